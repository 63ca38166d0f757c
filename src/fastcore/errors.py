"""The exceptions fastcore raises at its Python edge.

Inside the engine, business outcomes (a rejected order, an unknown order) are
status codes and events, never exceptions; these are for the edges: bytes
that are not FIX, values that do not convert, a command that is not valid.
"""

from __future__ import annotations


class FastcoreError(Exception):
    """Base of every fastcore exception."""


class CodecError(FastcoreError):
    """Bytes that could not be read as the FIX message asked for."""


class IncompleteMessage(CodecError):
    """The data ends inside a message: more bytes are needed."""


class GarbledMessage(CodecError):
    """Framing failed (no BeginString, wrong BodyLength or CheckSum, too long).

    FIX session rules say such bytes are ignored, not rejected.
    ``why`` is the codec's code for the failure.
    """

    def __init__(self, why: int, text: str) -> None:
        super().__init__(text)
        self.why = why
        self.text = text


class InvalidMessage(CodecError):
    """A framed message that breaks the FIX 4.4 rules.

    ``reason`` is the SessionRejectReason (373) a Reject (35=3) carries,
    ``ref_tag`` the offending tag (RefTagID 371, 0 when none) and
    ``msg_type`` the message's MsgType (None when it could not be read).
    """

    def __init__(self, reason: int, ref_tag: int, msg_type: str | None, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.ref_tag = ref_tag
        self.msg_type = msg_type
        self.text = text


class FieldNotFound(CodecError, KeyError):
    """The message has no such field."""

    def __init__(self, tag: int) -> None:
        super().__init__(tag)
        self.tag = tag

    def __str__(self) -> str:
        return f"tag {self.tag} is not in the message"


class FieldValueError(CodecError, ValueError):
    """A field's value is not of the type asked for."""

    def __init__(self, tag: int, expected: str, value: bytes) -> None:
        super().__init__(f"tag {tag}: expected {expected}, got {value!r}")
        self.tag = tag
        self.expected = expected
        self.value = value


class ConfigError(FastcoreError):
    """A configuration that cannot be used; ``entry`` names the offending entry."""

    def __init__(self, entry: str, why: str) -> None:
        super().__init__(f"{entry}: {why}" if entry else why)
        self.entry = entry
        self.why = why


class UnknownSession(FastcoreError, KeyError):
    """A message or command names a session (user) the configuration lacks."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no session {self.name!r} is configured"


class CommandRefused(FastcoreError):
    """A sell-side command that is not valid for the order, in its state.

    ``command`` is the command, ``order`` the ClOrdID it named, ``state`` the
    order's states (e.g. "New, Partially Filled"; None when there is no such
    order) and ``why`` the reason.
    """

    def __init__(self, command: str, order: str | None, state: str | None, why: str) -> None:
        where = f" order {order}" if order is not None else ""
        if state is not None:
            where += f" ({state})"
        super().__init__(f"{command}{where}: {why}")
        self.command = command
        self.order = order
        self.state = state
        self.why = why


class BookCorrupted(FastcoreError, AssertionError):
    """``Book.validate()`` found a broken invariant of the order book (a bug)."""


class JournalError(FastcoreError):
    """A journal or snapshot file that cannot be used as it is: a record or
    a snapshot whose checksum fails, records out of sequence, a file of
    another format. ``path`` names the file and ``offset`` the byte where
    the problem lies (None for a whole file)."""

    def __init__(self, path: str, offset: int | None, why: str) -> None:
        super().__init__(f"{path}{'' if offset is None else f' at byte {offset}'}: {why}")
        self.path = path
        self.offset = offset
        self.why = why


class ClusterError(FastcoreError):
    """A cluster part that cannot do its work: a NATS server that does not
    start, a stream or bucket that cannot be made, a log entry that does not
    read. ``what`` names the part."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")
        self.what = what
        self.why = why


class Fenced(ClusterError):
    """A partition's output refused by the stream because another engine
    published there first (the expected last sequence did not match): this
    engine is no longer, or not yet, the primary."""
