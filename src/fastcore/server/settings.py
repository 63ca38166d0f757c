"""QuickFIX-style session settings files, read into fastcore configuration tables.

    from fastcore.server.settings import read_settings
    table = read_settings("sessions.cfg")
    # {"server": {"fix_port": 9878, ...}, "sessions": [{"target_comp_id": ...}, ...]}

The table is meant to be merged over fastcore's configuration (its
``server`` table and its ``sessions`` list). It holds only what the file
gives: a key left out keeps fastcore's default.

The format is QuickFIX's and QuickFIX/J's. A line is ``Key=Value``, a
section header (``[DEFAULT]`` or ``[SESSION]``, in any case), a comment
(``#`` or ``;`` first on the line) or blank. Whitespace around keys and
values is stripped; a value runs to the end of its line (no comment after a
value, no ``${variable}``); a key fastcore reads needs a value (``Key=``
alone is refused: leave the key out); keys are case-sensitive. There is at most one
``[DEFAULT]``, anywhere in the file, and at least one ``[SESSION]``: each
session's settings are those of ``[DEFAULT]`` overlaid with its own.

    # fastcore's sessions
    [DEFAULT]
    BeginString=FIX.4.4
    ConnectionType=acceptor
    SenderCompID=FASTCORE
    SocketAcceptPort=9878
    HeartBtInt=30
    FileStorePath=store

    [SESSION]
    TargetCompID=CLIENT1
    User=ET1
    Password=secret
    ResetOnLogon=Y

    [SESSION]
    TargetCompID=DC1
    SessionType=drop_copy
    Firms=FIRM1, FIRM2

The keys fastcore reads (``*``: a fastcore extension, not a QuickFIX key)::

    QuickFIX key        fastcore key                    value
    ------------------  ------------------------------  ---------------------------------
    BeginString         (checked, required)             FIX.4.4
    ConnectionType      (checked)                       acceptor
    SenderCompID        sessions[].sender_comp_id       our CompID (required)
    TargetCompID        sessions[].target_comp_id       the client's CompID (required)
    User *              sessions[].user                 the fastcore user it trades as
    SessionType *       sessions[].kind                 order or drop_copy
    Password *          sessions[].password             the Password (554) its Logon carries
    HeartBtInt          (checked)                       seconds, above 0; an acceptor takes
                                                        the client's HeartBtInt (108), as
                                                        QuickFIX's does
    ResetOnLogon        sessions[].reset_on_logon       Y or N
    ResetOnLogout       sessions[].reset_on_logout      Y or N
    ResetOnDisconnect   sessions[].reset_on_disconnect  Y or N
    FileStorePath       sessions[].store                the directory of its store
    Firms *             sessions[].firms                firms, comma-separated (drop copy)
    SocketAcceptPort    server.fix_port                 1 to 65535
    SocketAcceptHost    server.host                     the address to listen on
    MaxLatency          server.sending_time_tolerance   seconds, 0 or more (0: no check)
    CheckLatency        server.sending_time_tolerance   N: 0 (no check); Y: MaxLatency's
    LogonTimeout        server.logon_timeout            seconds, above 0

fastcore listens on one FIX port, so the ``server`` keys (SocketAcceptPort,
SocketAcceptHost, MaxLatency, CheckLatency, LogonTimeout) apply to all
sessions: every session must have the same value (or none), which is best
written once, in ``[DEFAULT]``.

Keys that QuickFIX knows but that do not apply to fastcore are accepted and
ignored (fastcore's own behaviour holds); they are ``IGNORED_KEYS``:
StartTime, EndTime, StartDay, EndDay, TimeZone, UseLocalTime,
UseDataDictionary, DataDictionary, TransportDataDictionary,
AppDataDictionary, FileLogPath, FileLogBackupPath, DebugFileLogPath,
ScreenLogShowIncoming, ScreenLogShowOutgoing, ScreenLogShowEvents,
ValidateUserDefinedFields, ValidateFieldsOutOfOrder,
ValidateFieldsHaveValues, ValidateLengthAndChecksum, AllowUnknownMsgFields,
PersistMessages, RefreshOnLogon, MillisecondsInTimeStamp,
TimestampPrecision, SocketReuseAddress, SocketNodelay, SocketSendBufferSize,
SocketReceiveBufferSize, SendRedundantResendRequests, ResetOnError,
LogoutTimeout, and the initiator's ReconnectInterval, SocketConnectHost and
SocketConnectPort. Keys that would change which messages belong to a
session are refused (``REFUSED_KEYS``): SessionQualifier, SenderSubID,
SenderLocationID, TargetSubID, TargetLocationID; any other key is refused
as unknown (a typo, most likely).

A file that cannot be used raises ConfigError. Its ``entry`` is
``FILE:SECTION:KEY`` without the parts that do not apply, e.g.
``sessions.cfg:[SESSION] 2:HeartBtInt`` or ``sessions.cfg:[DEFAULT]``
(sessions are numbered from 1 in the file's order); its ``why`` ends with
``(line N)`` when one line is at fault.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from fastcore.errors import ConfigError

IGNORED_KEYS = frozenset({
    # schedule: a fastcore session is open whenever the server runs
    "StartTime", "EndTime", "StartDay", "EndDay", "TimeZone", "UseLocalTime",
    # validation: fastcore's codec always validates against its FIX 4.4 dictionary
    "UseDataDictionary", "DataDictionary", "TransportDataDictionary", "AppDataDictionary",
    "ValidateUserDefinedFields", "ValidateFieldsOutOfOrder", "ValidateFieldsHaveValues",
    "ValidateLengthAndChecksum", "AllowUnknownMsgFields",
    # logs
    "FileLogPath", "FileLogBackupPath", "DebugFileLogPath",
    "ScreenLogShowIncoming", "ScreenLogShowOutgoing", "ScreenLogShowEvents",
    # store, timestamps (engine.timestamp_precision), sockets, session details
    "PersistMessages", "RefreshOnLogon", "MillisecondsInTimeStamp", "TimestampPrecision",
    "SocketReuseAddress", "SocketNodelay", "SocketSendBufferSize", "SocketReceiveBufferSize",
    "SendRedundantResendRequests", "ResetOnError", "LogoutTimeout",
    # an initiator's: fastcore is an acceptor
    "ReconnectInterval", "SocketConnectHost", "SocketConnectPort",
})
"""QuickFIX keys accepted and ignored: they do not apply to fastcore."""

_NO_SUB_IDS = "not supported: fastcore knows a session by SenderCompID and TargetCompID alone"
REFUSED_KEYS = {
    "SessionQualifier": _NO_SUB_IDS,
    "SenderSubID": _NO_SUB_IDS,
    "SenderLocationID": _NO_SUB_IDS,
    "TargetSubID": _NO_SUB_IDS,
    "TargetLocationID": _NO_SUB_IDS,
}
"""QuickFIX keys refused, with the reason."""

BEGIN_STRING = "FIX.4.4"
REQUIRED_KEYS = ("BeginString", "SenderCompID", "TargetCompID")
SERVER_KEYS = ("SocketAcceptPort", "SocketAcceptHost", "MaxLatency", "CheckLatency",
               "LogonTimeout")
"""The keys of the ``server`` table: one value for all sessions."""


# Converters: a value's text to its value, or ValueError saying why not.

def _text(text: str) -> str:
    if not text:
        raise ValueError("has no value: give one or leave the key out")
    return text


def _comp_id(text: str) -> str:
    if not _text(text).isprintable() or " " in text or "=" in text:
        raise ValueError(f"{text!r} is not a usable CompID (no spaces, '=' or control "
                         "characters)")
    return text


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        if not re.fullmatch(r"-?[0-9]+", text):
            raise ValueError(f"{text!r} is not a whole number")
        value = int(text)
        if value < low or (high is not None and value > high):
            bounds = f"{low} or more" if high is None else f"from {low} to {high}"
            raise ValueError(f"must be {bounds}, not {value}")
        return value
    return convert


def _yes_no(text: str) -> bool:
    if text not in ("Y", "N"):
        raise ValueError(f"{text!r} is not Y or N")
    return text == "Y"


def _session_type(text: str) -> str:
    if text not in ("order", "drop_copy"):
        raise ValueError(f"{text!r} is not order or drop_copy")
    return text


def _names(text: str) -> list[str]:
    names = [name.strip() for name in _text(text).split(",")]
    if not all(names):
        raise ValueError(f"{text!r} has an empty name: names are separated by one comma")
    return names


def _begin_string(text: str) -> str:
    if text != BEGIN_STRING:
        raise ValueError(f"{text!r} is not {BEGIN_STRING}: fastcore speaks FIX 4.4 only")
    return text


def _connection_type(text: str) -> str:
    if text == "initiator":
        raise ValueError("fastcore is an acceptor: it does not connect to its clients")
    if text != "acceptor":
        raise ValueError(f"{text!r} is not acceptor")
    return text


_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    # QuickFIX key: (fastcore key, "" for none; converter)
    "BeginString": ("", _begin_string),
    "ConnectionType": ("", _connection_type),
    "SenderCompID": ("sender_comp_id", _comp_id),
    "TargetCompID": ("target_comp_id", _comp_id),
    "User": ("user", _text),
    "SessionType": ("kind", _session_type),
    "Password": ("password", _text),
    "HeartBtInt": ("", _integer(1)),            # the acceptor takes the client's
    "ResetOnLogon": ("reset_on_logon", _yes_no),
    "ResetOnLogout": ("reset_on_logout", _yes_no),
    "ResetOnDisconnect": ("reset_on_disconnect", _yes_no),
    "FileStorePath": ("store", _text),
    "Firms": ("firms", _names),
    "SocketAcceptPort": ("fix_port", _integer(1, 65535)),
    "SocketAcceptHost": ("host", _text),
    "MaxLatency": ("sending_time_tolerance", _integer(0)),
    "CheckLatency": ("", _yes_no),
    "LogonTimeout": ("logon_timeout", _integer(1)),
}


@dataclass
class _Section:
    label: str                                  # "[DEFAULT]" or "[SESSION] n"
    line: int
    lines: dict[str, int] = field(default_factory=dict)        # key → its line
    values: dict[str, tuple[Any, str]] = field(default_factory=dict)  # key → (value, text)


_UNSET = (None, "unset")


def _error(entry: str, why: str, line: int | None = None) -> ConfigError:
    return ConfigError(entry, why if line is None else f"{why} (line {line})")


def _unknown(key: str) -> str:
    """Why ``key`` is refused: unknown, with the nearest known key if any."""
    known = [*_KEYS, *IGNORED_KEYS, *REFUSED_KEYS]
    for name in known:
        if name.lower() == key.lower():
            return f"unknown key: keys are case-sensitive, did you mean {name}?"
    near = difflib.get_close_matches(key, known, n=1)
    return f"unknown key: did you mean {near[0]}?" if near else "unknown key"


def _read_line(section: _Section, key: str, text: str, line: int, entry: str) -> None:
    """Record ``key=text`` of ``line`` in ``section``, converted and checked."""
    if key in section.lines:
        raise _error(entry, f"appears twice in {section.label}, first on line "
                            f"{section.lines[key]}", line)
    section.lines[key] = line
    if key in IGNORED_KEYS:
        return
    if key in REFUSED_KEYS:
        raise _error(entry, REFUSED_KEYS[key], line)
    if key not in _KEYS:
        raise _error(entry, _unknown(key), line)
    try:
        section.values[key] = (_KEYS[key][1](text), text)
    except ValueError as exc:
        raise _error(entry, str(exc), line) from None


def _sections(text: str, source: str) -> tuple[_Section | None, list[_Section]]:
    """The file's [DEFAULT] (None if it has none) and its [SESSION]s."""
    default: _Section | None = None
    sessions: list[_Section] = []
    section: _Section | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            name = line[1:-1].strip().upper()
            if name == "DEFAULT":
                if default is not None:
                    raise _error(f"{source}:[DEFAULT]", "a second [DEFAULT], the first on "
                                                        f"line {default.line}", n)
                section = default = _Section("[DEFAULT]", n)
            elif name == "SESSION":
                section = _Section(f"[SESSION] {len(sessions) + 1}", n)
                sessions.append(section)
            else:
                raise _error(f"{source}:{line}",
                             "unknown section: the sections are [DEFAULT] and [SESSION]", n)
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        where = source if section is None else f"{source}:{section.label}"
        if not equals or not key:
            raise _error(where, f"{line!r} is neither a [section], a comment nor Key=Value", n)
        if section is None:
            raise _error(f"{where}:{key}", "Key=Value before any [DEFAULT] or [SESSION]", n)
        _read_line(section, key, value.strip(), n, f"{where}:{key}")
    return default, sessions


def _server_table(values: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    """The ``server`` table of a session's settings."""
    table = {_KEYS[key][0]: values[key][0] for key in SERVER_KEYS
             if key in values and _KEYS[key][0]}
    if "CheckLatency" in values and not values["CheckLatency"][0]:      # N: no check
        table["sending_time_tolerance"] = 0
    return table


def parse_settings(text: str, source: str = "<settings>") -> dict[str, Any]:
    """The configuration table of a settings file's text: ``{"server": {...},
    "sessions": [{...}, ...]}``; ``source`` names the file in errors."""
    default, sections = _sections(text, source)
    if not sections:
        raise _error(source, "no [SESSION]: at least one session is needed")
    defaults = default.values if default else {}
    merged = [(section.label, {**defaults, **section.values}) for section in sections]
    first_label, first = merged[0]
    sessions: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for label, values in merged:
        where = f"{source}:{label}"
        for key in REQUIRED_KEYS:
            if key not in values:
                raise _error(f"{where}:{key}", "required, in this [SESSION] or in [DEFAULT]")
        ids = (values["SenderCompID"][0], values["TargetCompID"][0])
        if ids in seen:
            raise _error(where, f"the session {ids[0]}->{ids[1]} is {seen[ids]} too")
        seen[ids] = label
        for key in SERVER_KEYS:
            mine, theirs = values.get(key, _UNSET), first.get(key, _UNSET)
            if mine[0] != theirs[0]:
                raise _error(f"{where}:{key}", f"{mine[1]} here but {theirs[1]} in "
                             f"{first_label}: fastcore listens on one FIX port, its "
                             f"settings are the same for all sessions (give {key} once, "
                             "in [DEFAULT])")
        sessions.append({_KEYS[key][0]: value for key, (value, _) in values.items()
                         if key not in SERVER_KEYS and _KEYS[key][0]})
    return {"server": _server_table(first), "sessions": sessions}


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The configuration table of the settings file at ``path`` (UTF-8 or
    ASCII text); see ``parse_settings``."""
    name = str(os.fspath(path))
    try:
        with open(name, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(name, exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(name, f"not UTF-8 text: {exc}") from None
    return parse_settings(text, name)
