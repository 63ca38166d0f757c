"""Snapshots of the engine's state, beside its journal.

    from fastcore import snapshot

    path = snapshot.write("store/journal", seq, engine, audit_offset=0)
    snap = snapshot.latest("store/journal")      # the newest valid one, or None
    engine = snap.engine()                       # its configuration, its state
    snapshot.prune("store/journal", keep=2)      # older snapshots and journal files go

    writer = snapshot.Writer.start("store/journal", seq, engine, keep=2)
    ...                                          # the engine goes on at once
    writer.poll()                                # True once the child is done
    writer.wait()                                # its error, None when written

A snapshot is the file ``<seq, 20 digits>.snap``: the 8 bytes ``FCSNAP01``,
the CRC-32 of the payload and its length (u32 and u64, little-endian), then
the payload, a msgpack map (``Snapshot``): the sequence number of the last
journal record it includes, the engine's configuration, its ``state()``, the
hash of that state, and the size the audit trail's file had when it was
taken. It is written to a temporary file, synced, and renamed into place, so
a crash leaves the previous snapshots as they were.

``Writer`` writes one in a child process (``fork``): the child has the
engine's memory as it was, copy-on-write, so the server's only pause is the
fork itself (a few ms for a process of 170 MB, against ~100 ms for copying,
encoding and checking 16 MB of state on a thread that shares the GIL).

Recovery takes the newest snapshot that reads whole (a damaged one is
skipped, with the reason) and replays the journal after its ``seq``: the
journal files are kept back to the oldest snapshot kept.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import sys

import msgspec

from fastcore import config as _config
from fastcore.engine import Engine, hash_state
from fastcore.errors import JournalError
from fastcore.journal import crc32, numbered, segments

MAGIC = b"FCSNAP01"
SUFFIX = ".snap"
HEADER = struct.Struct("<8sIQ")          # magic, CRC-32 of the payload, its length


class Snapshot(msgspec.Struct, frozen=True):
    """One snapshot: the engine after the journal's records 1 to ``seq``."""
    seq: int
    config: dict                         # the engine's configuration (a table)
    state: dict                          # Engine.state()
    hash: str                            # Engine.state_hash() of that state
    audit_offset: int                    # bytes of the audit trail's file then
    last_in: list[int] = []              # a cluster's partition: the last MsgSeqNum taken
                                         # from each user (duplicates are skipped)

    @classmethod
    def of(cls, seq: int, config: _config.Config, state: dict, audit_offset: int = 0,
           last_in: list[int] | None = None) -> Snapshot:
        """The snapshot of an engine of ``config`` whose ``state()`` is ``state``."""
        return cls(seq=seq, config=config_table(config), state=state, hash=hash_state(state),
                   audit_offset=audit_offset, last_in=last_in or [])

    def engine(self) -> Engine:
        """A new Engine in this snapshot's state."""
        engine = Engine(_config.load(self.config))
        try:
            engine.restore(self.state)
        except ValueError as exc:
            raise JournalError(name(self.seq), None, f"does not fit this build: {exc}") from None
        return engine


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Snapshot).decode


def name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


def config_table(config: _config.Config) -> dict:
    """``config`` as a table that ``config.load`` gives back (the session
    settings file it was merged from is already in it)."""
    table = msgspec.to_builtins(config)
    table["server"]["settings"] = ""
    return table


def take(seq: int, engine: Engine, audit_offset: int = 0) -> Snapshot:
    """A snapshot of ``engine`` after journal record ``seq``, in memory (its
    bytes are copies: the engine may go on at once)."""
    return Snapshot.of(seq, engine.config, engine.state(), audit_offset)


def save(directory: str | os.PathLike, snap: Snapshot, *, sync: bool = True) -> str:
    """Write ``snap`` in ``directory``; returns its path. With ``sync``, it
    is on the disk (file and directory) before it is renamed into place."""
    directory = os.fspath(directory)
    path = os.path.join(directory, name(snap.seq))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(dumps(snap))
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def write(directory: str | os.PathLike, seq: int, engine: Engine, audit_offset: int = 0,
          *, sync: bool = True) -> str:
    """``save(directory, take(seq, engine, audit_offset))``."""
    return save(directory, take(seq, engine, audit_offset), sync=sync)


# prctl(PR_SET_PDEATHSIG): a writer dies with the server, as its thread did
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1
ERROR_MAX = 4096                     # bytes of a child's error kept


class Writer:
    """A snapshot written by a child process.

    ``Writer.start`` forks: the child takes ``engine``'s state as it was at
    the fork, writes it (``write``), prunes to the newest ``keep`` (0: none
    pruned), reports any error on a pipe and exits; the caller goes on with
    the engine at once. ``poll`` reaps the child when it is done, without
    waiting; ``wait`` waits for it. Either then sets ``error``: None when
    the snapshot is in place, else why not. The child ignores SIGINT (a
    terminal's Ctrl-C reaches the whole process group: the write finishes
    while the server stops) and dies with the process that started it.
    """

    def __init__(self, pid: int, fd: int, seq: int) -> None:
        self.pid = pid
        self.seq = seq
        self.error: str | None = None
        self.done = False
        self._fd = fd                # the pipe's read end: the child's error text

    @classmethod
    def start(cls, directory: str | os.PathLike, seq: int, engine: Engine,
              audit_offset: int = 0, *, keep: int = 0, sync: bool = True) -> Writer:
        parent = os.getpid()
        read_end, write_end = os.pipe()
        for stream in (sys.stdout, sys.stderr):     # nothing buffered is written twice
            if stream is not None:
                stream.flush()
        pid = os.fork()
        if pid == 0:                                # the child: never returns
            code = 1
            try:
                os.close(read_end)
                _detach(parent)
                write(directory, seq, engine, audit_offset, sync=sync)
                if keep:
                    prune(directory, keep)
                code = 0
            except BaseException as exc:           # noqa: BLE001 - reported, then gone
                os.write(write_end, (f"{type(exc).__name__}: {exc}").encode()[:ERROR_MAX])
            finally:
                os._exit(code)
        os.close(write_end)
        return cls(pid, read_end, seq)

    def poll(self) -> bool:
        """True when the child is done (reaped now or before)."""
        if not self.done:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reaped(status)
        return self.done

    def wait(self) -> str | None:
        """Wait for the child; its ``error``."""
        if not self.done:
            self._reaped(os.waitpid(self.pid, 0)[1])
        return self.error

    def _reaped(self, status: int) -> None:
        self.done = True
        text = os.read(self._fd, ERROR_MAX).decode(errors="replace")
        os.close(self._fd)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            self.error = f"the writer was killed by signal {-code}"
        elif code:
            self.error = text or f"the writer exited with status {code}"


def _detach(parent: int) -> None:
    """A writer's first steps: its signals its own (the server's handlers
    and wakeup fd are the server's), and its life bound to the parent's."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:                      # the parent died before prctl
        os._exit(1)
    os.nice(19)


def dumps(snap: Snapshot) -> bytes:
    """``snap`` as the bytes of a snapshot file."""
    payload = _encode(snap)
    return HEADER.pack(MAGIC, crc32(payload), len(payload)) + payload


def read(path: str | os.PathLike) -> Snapshot:
    """The snapshot in ``path``; JournalError when it does not read whole."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        return loads(f.read(), path)


def loads(data: bytes, path: str = "snapshot") -> Snapshot:
    """The snapshot of a file's bytes; JournalError (naming ``path``) when
    they do not read whole."""
    if len(data) < HEADER.size or data[:8] != MAGIC:
        raise JournalError(path, None, "not a snapshot (no FCSNAP01 at its start)")
    _, crc, length = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if len(payload) != length:
        raise JournalError(path, None, f"{len(payload)} bytes of payload where its header "
                           f"says {length}")
    if crc32(payload) != crc:
        raise JournalError(path, None, "the payload fails its CRC")
    try:
        return _decode(payload)
    except msgspec.DecodeError as exc:
        raise JournalError(path, None, f"not a snapshot: {exc}") from None


def snapshots(directory: str | os.PathLike) -> list[tuple[int, str]]:
    """The snapshots in ``directory``: [(seq, path)], oldest first."""
    return numbered(directory, SUFFIX)


def latest(directory: str | os.PathLike, log=None) -> Snapshot | None:
    """The newest snapshot in ``directory`` that reads whole, None when
    there is none. ``log(path, why)`` hears of each one skipped."""
    for _, path in reversed(snapshots(directory)):
        try:
            return read(path)
        except JournalError as exc:
            if log is not None:
                log(path, exc.why)
    return None


def prune(directory: str | os.PathLike, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` snapshots, and the journal files
    whose records all precede the oldest snapshot kept; returns the paths
    deleted. Leftover temporary files go too."""
    directory = os.fspath(directory)
    gone = []
    kept = snapshots(directory)
    for _, path in kept[:-keep]:
        os.remove(path)
        gone.append(path)
    kept = kept[-keep:]
    for entry in os.listdir(directory):
        if entry.endswith(SUFFIX + ".tmp"):
            os.remove(os.path.join(directory, entry))
    if kept:
        oldest = kept[0][0]
        found = segments(directory)
        for (first, path), (following, _) in zip(found, found[1:]):
            if following <= oldest + 1:          # every record of it is <= oldest
                os.remove(path)
                gone.append(path)
    return gone
