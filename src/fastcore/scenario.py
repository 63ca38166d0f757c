"""Scenario files: play a conversation with the engine and check what comes out.

The format is the public contract of ``scenario-format.md``: a JSON object
with ``ref``, ``title``, ``config`` and ``steps``; each step is a ``send``
(a client's message), an ``act`` (a sell-side command), an ``expect`` (the
next message a recipient got must hold these tags) or an ``expect_none``.

    from fastcore.scenario import run_paths
    results = run_paths(["tests/scenarios/appendix_d"])
    all(r.passed for r in results)
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import json
import os
from pathlib import Path
from typing import Any, Iterable

from fastcore.codec import Encoder, Message, parse
from fastcore.engine import Engine
from fastcore.errors import FastcoreError

# The runner writes these itself (header and trailer of every `send`).
HEADER_TAGS = frozenset(("8", "9", "34", "49", "52", "56", "10"))
# Optional fields of the FIX 4.4 StandardHeader: a `send` may give them, and
# they go before the body.
OPTIONAL_HEADER = frozenset((115, 128, 90, 91, 50, 142, 57, 143, 116, 144, 129, 145,
                             43, 97, 122, 212, 213, 347, 369))
# 2026-11-21 09:30:00 UTC; each step is one millisecond later.
START_NS = 1_795_253_400_000_000_000
STEP_NS = 1_000_000


@dataclasses.dataclass
class Result:
    """The outcome of one scenario file."""
    path: str
    ref: str
    passed: bool
    step: int = 0           # the failing step, from 1; 0 when the file itself is wrong
    message: str = ""

    def line(self) -> str:
        if self.passed:
            return f"PASS {self.ref}"
        where = f"step {self.step}: " if self.step else ""
        return f"FAIL {self.ref}: {where}{self.message}"


class StepFailed(Exception):
    pass


def _same(expected: str, got: str) -> bool:
    """Numbers compare as decimals ("10000" equals "10000.0"), the rest as text."""
    if expected == got:
        return True
    try:
        return decimal.Decimal(expected) == decimal.Decimal(got)
    except decimal.InvalidOperation:
        return False


def _show(fields: dict[str, str]) -> str:
    return " ".join(f"{tag}={value}" for tag, value in fields.items())


def scenario_config(scenario: dict[str, Any], base: Path) -> Path | dict[str, Any] | None:
    """The scenario's ``config``: None (the default), a file (relative to
    the scenario's directory first) or a table."""
    config = scenario.get("config", "default")
    if config == "default":
        return None
    if isinstance(config, str):
        path = Path(config)
        return path if path.is_absolute() or not (base / path).exists() else base / path
    if not isinstance(config, dict):
        raise ValueError(f"config must be \"default\", a path or an object, not {config!r}")
    return config


class Player:
    """Plays one scenario against an embedded engine."""

    def __init__(self, scenario: dict[str, Any], base: Path) -> None:
        self.engine = Engine(scenario_config(scenario, base))
        self.default_client = self.engine.sessions[0]
        self.last_client = self.default_client
        self.comp_id = self.engine.config.engine.comp_id
        self.seq: dict[str, int] = collections.defaultdict(int)
        self.queues: dict[str, collections.deque] = {
            name: collections.deque() for name in self.engine.sessions}
        self.now = START_NS

    def _receive(self, user: str, msg: Message) -> None:
        """``user`` received ``msg``: queued for the ``expect`` steps as tag → text."""
        self.queues[user].append(
            {str(tag): value.decode("latin-1") for tag, value in msg.to_dict().items()})

    def _deliver(self, out: Iterable[tuple[str, bytes]]) -> None:
        for to, data in out:
            self._receive(to, parse(data))

    def _users(self, step: dict[str, Any], key: str = "to") -> list[str]:
        to = step.get(key, self.last_client)
        users = to if isinstance(to, list) else [to]
        for user in users:
            if not isinstance(user, str) or (user != "*" and user not in self.queues):
                raise StepFailed(f"no user {user!r} in the configuration")
        return users

    @staticmethod
    def _fields(step: dict[str, Any], key: str) -> dict[str, str]:
        """The tag → value object of a step, checked."""
        fields = step[key]
        if not isinstance(fields, dict):
            raise StepFailed(f"{key} must be an object of tag → value")
        for tag in fields:
            if not str(tag).isdigit() or not 0 < int(tag) < 1_000_000:
                raise StepFailed(f"{key}: {tag!r} is not a tag number")
        return {str(k): str(v) for k, v in fields.items()}

    def send(self, step: dict[str, Any]) -> None:
        user = step.get("as", self.default_client)
        if user not in self.queues:
            raise StepFailed(f"no user {user!r} in the configuration")
        fields = self._fields(step, "send")
        if "35" not in fields:
            raise StepFailed("send has no MsgType (35)")
        body = [(int(tag), value) for tag, value in fields.items()
                if tag not in HEADER_TAGS and tag != "35"]
        body.sort(key=lambda field: field[0] not in OPTIONAL_HEADER)   # stable
        self.last_client = user
        self._send(user, fields["35"], body)

    def _send(self, user: str, msg_type: str, body: list[tuple[int, str]]) -> None:
        self.seq[user] += 1
        data = Encoder(user, self.comp_id).encode(msg_type, body, self.seq[user], self.now)
        self._deliver(self.engine.submit(data, user, self.now))

    def act(self, step: dict[str, Any]) -> None:
        if not isinstance(step["act"], str):
            raise StepFailed("act must name a command")
        args = {k: v for k, v in step.items() if k not in ("act", "as", "refused")}
        if "as" in step:
            args["session"] = step["as"]
        refused = step.get("refused")
        if refused is None:
            return self._act(step["act"], args)
        try:
            self._act(step["act"], args)
        except (StepFailed, FastcoreError) as exc:
            if str(refused) not in str(exc):
                raise StepFailed(f"refused with {str(exc)!r}, not {refused!r}") from None
        else:
            raise StepFailed(f"{step['act']} was not refused ({refused!r} expected)")

    def _act(self, command: str, args: dict[str, Any]) -> None:
        self._deliver(self.engine.act(command, now=self.now, **args))

    def expect(self, step: dict[str, Any]) -> None:
        expected = self._fields(step, "expect")
        absent = [str(tag) for tag in step.get("absent", ())]
        users = self._users(step)
        for user in users:
            queue = self.queues[user]
            if not queue:
                raise StepFailed(f"expected {_show(expected)} for {user}, got nothing")
            got = queue.popleft()
            wrong = {tag: value for tag, value in expected.items()
                     if tag not in got or not _same(value, got[tag])}
            if wrong:
                shown = " ".join(f"{tag}={got.get(tag, '(none)')}" for tag in wrong)
                raise StepFailed(f"expected {_show(wrong)}, got {shown}"
                                 + (f" (to {user})" if len(users) > 1 else ""))
            present = [f"{tag}={got[tag]}" for tag in absent if tag in got]
            if present:
                raise StepFailed(f"expected no {', '.join(absent)}, got {' '.join(present)}"
                                 + (f" (to {user})" if len(users) > 1 else ""))
        if step.get("only"):
            for user, queue in self.queues.items():
                if user not in users and queue and all(
                        tag in queue[0] and _same(value, queue[0][tag])
                        for tag, value in expected.items()):
                    raise StepFailed(f"{user} received {_show(expected)} too")

    def expect_none(self, step: dict[str, Any]) -> None:
        users = self._users(step)
        if "*" in users:
            users = list(self.queues)
        for user in users:
            if self.queues[user]:
                raise StepFailed(f"expected nothing more for {user}, got "
                                 + _show(self.queues[user][0]))

    def play(self, steps: list[Any]) -> tuple[int, str]:
        """(0, "") when every step holds, else (step number, why)."""
        for n, step in enumerate(steps, 1):
            self.now += STEP_NS
            try:
                if not isinstance(step, dict):
                    raise StepFailed("a step is a JSON object")
                if "send" in step:
                    self.send(step)
                elif "act" in step:
                    self.act(step)
                elif "expect" in step:
                    self.expect(step)
                elif "expect_none" in step:
                    self.expect_none(step)
                else:
                    raise StepFailed("a step needs send, act, expect or expect_none")
            except StepFailed as exc:
                return n, str(exc)
            except FastcoreError as exc:       # a server's client errors too
                return n, str(exc)
        return 0, ""


    def close(self) -> None:
        pass


# What a client's session layer handles itself: not part of a scenario's conversation.
SESSION_ONLY = frozenset(("0", "1", "2", "4", "5", "A"))


class ServerPlayer(Player):
    """Plays one scenario over a running server: each user's FIX session
    sends and receives, an operator (on the msgspec port) runs the ``act``
    commands and first loads a fresh engine with the scenario's
    configuration. ``local`` is the server's configuration as the player
    knows it (sessions, passwords, the operator); the server merges the
    scenario's over its own."""

    def __init__(self, scenario: dict[str, Any], base: Path, server: tuple[str, int],
                 operator: tuple[str, int], local: str | os.PathLike | None = None) -> None:
        from fastcore.config import load, merge, order_sessions, read
        from fastcore.server.client import FixClient, MsgClient
        config = scenario_config(scenario, base)
        table = read(config) if isinstance(config, Path) else config or {}
        known = load(merge(read(local) if local is not None else {}, table))
        op = next((o for o in known.operators if o.may_reset), None)
        if op is None:
            raise ValueError("the configuration has no operator that may reset the engine")
        self.clients: dict[str, Any] = {}
        self.ops = MsgClient(*operator, op.name, op.password, role="operator")
        try:
            self.ops.reset(table)
            for user, s in order_sessions(known).items():
                self.clients[user] = FixClient(*server, s.target_comp_id, s.sender_comp_id,
                                               password=s.password or None)
        except Exception:
            self.close()
            raise
        users = [u.name for u in known.users]
        self.now = START_NS                         # unused: the server keeps its own time
        self.default_client = self.last_client = users[0]
        self.queues = {name: collections.deque() for name in users}

    def _collect(self, first: str | None) -> None:
        """Wait until everything the last step caused has arrived: the
        sender's session first (its request was handled before its
        TestRequest), then every other (their messages were written before
        the server read theirs)."""
        if first is not None:
            self.clients[first].sync()
        for user, client in self.clients.items():
            if user != first:
                client.sync()
            for msg in client.take(admin=True):
                if msg.msg_type not in SESSION_ONLY:
                    self._receive(user, msg)

    def _send(self, user: str, msg_type: str, body: list[tuple[int, str]]) -> None:
        self.clients[user].send(msg_type, body)
        self._collect(user)

    def _act(self, command: str, args: dict[str, Any]) -> None:
        from fastcore.server.client import ClientError
        try:
            self.ops.act(command, **args)
        except ClientError as exc:
            raise StepFailed(str(exc)) from None
        self._collect(None)

    def close(self) -> None:
        for client in self.clients.values():
            client.logout()
        self.ops.logout()


def run_file(path: str | os.PathLike, server: tuple[str, int] | None = None,
             operator: tuple[str, int] | None = None,
             local: str | os.PathLike | None = None) -> Result:
    """Play one scenario file against an embedded engine, or over the FIX
    server at ``server`` (host, port) with its operator port at ``operator``."""
    path = Path(path)
    ref = path.stem
    try:
        scenario = json.loads(path.read_text())
        if not isinstance(scenario, dict) or not isinstance(scenario.get("steps"), list):
            raise ValueError("a scenario is an object with a list of steps")
        ref = str(scenario.get("ref", ref))
        if server is None:
            player = Player(scenario, path.parent)
        else:
            player = ServerPlayer(scenario, path.parent, server, operator or server, local)
    except (OSError, ValueError, FastcoreError) as exc:
        return Result(str(path), ref, False, 0, f"not a playable scenario: {exc}")
    try:
        step, why = player.play(scenario["steps"])
    finally:
        player.close()
    return Result(str(path), ref, step == 0, step, why)


def scenario_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files named, and every *.json under the directories named, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.json")) if p.is_dir() else [p])
    return files


def run_paths(paths: Iterable[str | os.PathLike], **server: Any) -> list[Result]:
    """Play every scenario file of ``paths`` (``run_file``'s server arguments apply)."""
    return [run_file(f, **server) for f in scenario_files(paths)]
