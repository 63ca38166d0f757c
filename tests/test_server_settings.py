"""fastcore.server.settings: QuickFIX-style session settings files read into
fastcore configuration tables, and the ConfigError a bad file raises (naming
its file, section and key)."""
from __future__ import annotations

import msgspec
import pytest

from fastcore.config import ServerConfig, Session
from fastcore.errors import ConfigError
from fastcore.server import settings
from fastcore.server.settings import IGNORED_KEYS, REFUSED_KEYS, parse_settings, read_settings

TYPICAL = """\
# fastcore's sessions
[DEFAULT]
ConnectionType=acceptor
BeginString=FIX.4.4
SenderCompID=FASTCORE
SocketAcceptPort=9878
HeartBtInt=30
FileStorePath=store
StartTime=00:00:00
EndTime=00:00:00

[SESSION]
TargetCompID=CLIENT1
User=ET1
Password=secret
ResetOnLogon=Y

[SESSION]
TargetCompID=DC1
SessionType=drop_copy
Firms=FIRM1, FIRM2
HeartBtInt=60
"""

HEAD = "[DEFAULT]\nBeginString=FIX.4.4\nSenderCompID=FASTCORE\n"
"""A [DEFAULT] with what every session needs but its TargetCompID."""


def session(*lines: str, target: str = "CLIENT1") -> str:
    """A [SESSION] with TargetCompID ``target`` and ``lines``."""
    return "\n".join(["[SESSION]", f"TargetCompID={target}", *lines]) + "\n"


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        parse_settings(text, "sessions.cfg")
    return exc.value


def test_typical_file():
    assert parse_settings(TYPICAL) == {
        "server": {"fix_port": 9878},
        "sessions": [
            {"sender_comp_id": "FASTCORE", "target_comp_id": "CLIENT1", "user": "ET1",
             "password": "secret", "store": "store", "reset_on_logon": True},
            {"sender_comp_id": "FASTCORE", "target_comp_id": "DC1", "kind": "drop_copy",
             "firms": ["FIRM1", "FIRM2"], "store": "store"},
        ]}


def test_the_docstring_example_reads():
    doc = settings.__doc__
    example = doc[doc.index("    # fastcore's sessions"):doc.index("The keys fastcore reads")]
    table = parse_settings("\n".join(line.strip() for line in example.splitlines()))
    assert [s["target_comp_id"] for s in table["sessions"]] == ["CLIENT1", "DC1"]
    assert table["sessions"][1]["firms"] == ["FIRM1", "FIRM2"]


EVERY_KEY = {
    # QuickFIX key: (its text, the fastcore table, key and value)
    "BeginString": ("FIX.4.4", None),
    "ConnectionType": ("acceptor", None),
    "SenderCompID": ("SELL", ("sessions", "sender_comp_id", "SELL")),
    "TargetCompID": ("BUY", ("sessions", "target_comp_id", "BUY")),
    "User": ("ET2", ("sessions", "user", "ET2")),
    "SessionType": ("order", ("sessions", "kind", "order")),
    "Password": ("pass word", ("sessions", "password", "pass word")),
    "HeartBtInt": ("15", None),
    "ResetOnLogon": ("Y", ("sessions", "reset_on_logon", True)),
    "ResetOnLogout": ("N", ("sessions", "reset_on_logout", False)),
    "ResetOnDisconnect": ("Y", ("sessions", "reset_on_disconnect", True)),
    "FileStorePath": ("/var/lib/fastcore", ("sessions", "store", "/var/lib/fastcore")),
    "Firms": ("F1", ("sessions", "firms", ["F1"])),
    "SocketAcceptPort": ("65535", ("server", "fix_port", 65535)),
    "SocketAcceptHost": ("0.0.0.0", ("server", "host", "0.0.0.0")),
    "MaxLatency": ("0", ("server", "sending_time_tolerance", 0)),
    "CheckLatency": ("Y", None),
    "LogonTimeout": ("5", ("server", "logon_timeout", 5)),
}


def test_every_mapped_key():
    text = "[SESSION]\n" + "".join(f"{key}={text}\n" for key, (text, _) in EVERY_KEY.items())
    table = parse_settings(text)
    expected: dict = {"server": {}, "sessions": [{}]}
    for _, mapped in EVERY_KEY.values():
        if mapped:
            where, key, value = mapped
            (expected["server"] if where == "server" else expected["sessions"][0])[key] = value
    assert table == expected
    # the table fits fastcore's configuration
    assert msgspec.convert(table["server"], ServerConfig).fix_port == 65535
    assert msgspec.convert(table["sessions"][0], Session).firms == ("F1",)


def test_the_docstring_names_every_key():
    doc = settings.__doc__
    for key in (*EVERY_KEY, *IGNORED_KEYS, *REFUSED_KEYS):
        assert key in doc, key


def test_minimal_file_gives_only_what_it_says():
    text = session("BeginString=FIX.4.4", "SenderCompID=FASTCORE")
    assert parse_settings(text) == {
        "server": {},
        "sessions": [{"sender_comp_id": "FASTCORE", "target_comp_id": "CLIENT1"}]}


def test_a_session_overrides_the_default_wherever_the_default_is():
    text = (session("FileStorePath=a", "ResetOnLogout=Y") + session(target="CLIENT2")
            + HEAD + "FileStorePath=b\nResetOnLogout=N\n")
    first, second = parse_settings(text)["sessions"]
    assert (first["store"], first["reset_on_logout"]) == ("a", True)
    assert (second["store"], second["reset_on_logout"]) == ("b", False)
    assert first["sender_comp_id"] == second["sender_comp_id"] == "FASTCORE"


def test_comments_blank_lines_whitespace_and_section_case():
    text = ("# a comment\n; another\n\n  [ default ]  \r\n"
            "  BeginString =  FIX.4.4  \r\n"
            "   # an indented comment\n"
            "SenderCompID=FASTCORE\n\n\n"
            "[Session]\n\tTargetCompID\t=\tCLIENT1\t\n"
            "Password= a=b \n"                   # the value runs from the first '='
            ";HeartBtInt=x\n#HeartBtInt=y\n")
    assert parse_settings(text)["sessions"] == [
        {"sender_comp_id": "FASTCORE", "target_comp_id": "CLIENT1", "password": "a=b"}]


def test_ignored_keys_are_accepted_and_change_nothing():
    base = HEAD + session()
    ignored = HEAD + "".join(f"{key}=whatever\n" for key in sorted(IGNORED_KEYS)) + session()
    assert parse_settings(ignored) == parse_settings(base)
    assert {"StartTime", "DataDictionary", "ResetOnError", "SocketConnectPort"} <= IGNORED_KEYS
    assert not IGNORED_KEYS & set(EVERY_KEY) and not IGNORED_KEYS & set(REFUSED_KEYS)


@pytest.mark.parametrize("lines, tolerance", [
    (["CheckLatency=N"], 0),
    (["CheckLatency=N", "MaxLatency=30"], 0),
    (["CheckLatency=Y", "MaxLatency=30"], 30),
    (["MaxLatency=30"], 30),
    (["CheckLatency=Y"], None),
], ids=["off", "off-despite-max", "on-with-max", "max-alone", "on-default"])
def test_latency_check(lines, tolerance):
    server = parse_settings(HEAD + "\n".join(lines) + "\n" + session())["server"]
    assert server.get("sending_time_tolerance") == tolerance


def test_server_keys_given_alike_in_every_session():
    text = (HEAD + session("SocketAcceptPort=5001", "SocketAcceptHost=10.0.0.1")
            + session("SocketAcceptPort=5001", "SocketAcceptHost=10.0.0.1", target="CLIENT2"))
    assert parse_settings(text)["server"] == {"fix_port": 5001, "host": "10.0.0.1"}


def test_same_target_with_another_sender_is_another_session():
    text = (HEAD + session() + "[SESSION]\nTargetCompID=CLIENT1\nSenderCompID=OTHER\n")
    sessions = parse_settings(text)["sessions"]
    assert [(s["sender_comp_id"], s["target_comp_id"]) for s in sessions] == [
        ("FASTCORE", "CLIENT1"), ("OTHER", "CLIENT1")]


@pytest.mark.parametrize("text, entry, why", [
    # lines
    (HEAD + "HeartBtInt 30\n" + session(), "[DEFAULT]",
     "'HeartBtInt 30' is neither a [section], a comment nor Key=Value (line 4)"),
    (HEAD + "=30\n" + session(), "[DEFAULT]", "'=30' is neither"),
    ("[SESSION\nTargetCompID=A\n", "", "'[SESSION' is neither"),
    ("BeginString=FIX.4.4\n" + HEAD + session(), "BeginString",
     "Key=Value before any [DEFAULT] or [SESSION] (line 1)"),
    (HEAD + session("HeartBtInt=30", "HeartBtInt=30"), "[SESSION] 1:HeartBtInt",
     "appears twice in [SESSION] 1, first on line 6 (line 7)"),
    (HEAD + "StartTime=1\nStartTime=2\n" + session(), "[DEFAULT]:StartTime",
     "appears twice in [DEFAULT], first on line 4 (line 5)"),
    # sections
    (HEAD + session() + "[DEFAULT]\n", "[DEFAULT]",
     "a second [DEFAULT], the first on line 1 (line 6)"),
    (HEAD + "[SESSIONS]\nTargetCompID=A\n", "[SESSIONS]",
     "unknown section: the sections are [DEFAULT] and [SESSION] (line 4)"),
    (HEAD, "", "no [SESSION]: at least one session is needed"),
    ("", "", "no [SESSION]"),
    # keys
    (HEAD + session("HeartBtIt=30"), "[SESSION] 1:HeartBtIt",
     "unknown key: did you mean HeartBtInt? (line 6)"),
    (HEAD + session("heartbtint=30"), "[SESSION] 1:heartbtint",
     "unknown key: keys are case-sensitive, did you mean HeartBtInt?"),
    (HEAD + session("Colour=blue"), "[SESSION] 1:Colour", "unknown key (line 6)"),
    (HEAD + session("SessionQualifier=A"), "[SESSION] 1:SessionQualifier",
     "not supported: fastcore knows a session by SenderCompID and TargetCompID alone"),
    (HEAD + session("TargetSubID=DESK"), "[SESSION] 1:TargetSubID", "not supported"),
    (HEAD + "SenderSubID=DESK\n" + session(), "[DEFAULT]:SenderSubID", "not supported"),
    # required keys
    ("[SESSION]\nSenderCompID=A\nTargetCompID=B\n", "[SESSION] 1:BeginString",
     "required, in this [SESSION] or in [DEFAULT]"),
    ("[SESSION]\nBeginString=FIX.4.4\nTargetCompID=B\n", "[SESSION] 1:SenderCompID",
     "required"),
    (HEAD + session() + "[SESSION]\nSenderCompID=X\n", "[SESSION] 2:TargetCompID",
     "required"),
    # values
    ("[DEFAULT]\nBeginString=FIX.4.2\n" + session(), "[DEFAULT]:BeginString",
     "'FIX.4.2' is not FIX.4.4: fastcore speaks FIX 4.4 only (line 2)"),
    (HEAD + session("BeginString=FIXT.1.1"), "[SESSION] 1:BeginString", "is not FIX.4.4"),
    (HEAD + session("ConnectionType=initiator"), "[SESSION] 1:ConnectionType",
     "fastcore is an acceptor"),
    (HEAD + session("ConnectionType=Acceptor"), "[SESSION] 1:ConnectionType",
     "'Acceptor' is not acceptor"),
    (HEAD + session("HeartBtInt=thirty"), "[SESSION] 1:HeartBtInt",
     "'thirty' is not a whole number (line 6)"),
    (HEAD + session("HeartBtInt=1.5"), "[SESSION] 1:HeartBtInt", "'1.5' is not a whole number"),
    (HEAD + session("HeartBtInt=0"), "[SESSION] 1:HeartBtInt", "must be 1 or more, not 0"),
    (HEAD + session("LogonTimeout=-1"), "[SESSION] 1:LogonTimeout", "must be 1 or more, not -1"),
    (HEAD + session("MaxLatency=-5"), "[SESSION] 1:MaxLatency", "must be 0 or more, not -5"),
    (HEAD + "SocketAcceptPort=0\n" + session(), "[DEFAULT]:SocketAcceptPort",
     "must be from 1 to 65535, not 0"),
    (HEAD + "SocketAcceptPort=65536\n" + session(), "[DEFAULT]:SocketAcceptPort",
     "must be from 1 to 65535, not 65536"),
    (HEAD + session("ResetOnLogon=yes"), "[SESSION] 1:ResetOnLogon", "'yes' is not Y or N"),
    (HEAD + session("CheckLatency=n"), "[SESSION] 1:CheckLatency", "'n' is not Y or N"),
    (HEAD + session("SessionType=dropcopy"), "[SESSION] 1:SessionType",
     "'dropcopy' is not order or drop_copy"),
    (HEAD + session("Firms=A,,B"), "[SESSION] 1:Firms", "'A,,B' has an empty name"),
    (HEAD + session("Firms=A,"), "[SESSION] 1:Firms", "has an empty name"),
    (HEAD + session("Password="), "[SESSION] 1:Password",
     "has no value: give one or leave the key out (line 6)"),
    (HEAD + session("SenderCompID=MY FIRM"), "[SESSION] 1:SenderCompID",
     "'MY FIRM' is not a usable CompID"),
    (HEAD + session("SenderCompID=A=B"), "[SESSION] 1:SenderCompID", "is not a usable CompID"),
    ("[DEFAULT]\nBeginString=FIX.4.4\nSenderCompID=A\n[SESSION]\nTargetCompID=\n",
     "[SESSION] 1:TargetCompID", "has no value"),
    # sessions
    (HEAD + session("User=ET1") + session("User=ET2"), "[SESSION] 2",
     "the session FASTCORE->CLIENT1 is [SESSION] 1 too"),
    (HEAD + session() + session(target="CLIENT2") + session("SenderCompID=FASTCORE"),
     "[SESSION] 3", "the session FASTCORE->CLIENT1 is [SESSION] 1 too"),
    (HEAD + session("SocketAcceptPort=5001") + session("SocketAcceptPort=5002", target="C2"),
     "[SESSION] 2:SocketAcceptPort", "5002 here but 5001 in [SESSION] 1: fastcore listens on "
     "one FIX port"),
    (HEAD + session("SocketAcceptPort=5001") + session(target="C2"),
     "[SESSION] 2:SocketAcceptPort", "unset here but 5001 in [SESSION] 1"),
    (HEAD + "SocketAcceptPort=5001\n" + session() + session("SocketAcceptPort=5002", target="C2"),
     "[SESSION] 2:SocketAcceptPort", "5002 here but 5001 in [SESSION] 1"),
    (HEAD + session("SocketAcceptHost=a") + session("SocketAcceptHost=b", target="C2"),
     "[SESSION] 2:SocketAcceptHost", "b here but a in [SESSION] 1"),
    (HEAD + session() + session("CheckLatency=N", target="C2"),
     "[SESSION] 2:CheckLatency", "N here but unset in [SESSION] 1"),
], ids=[
    "not-key-value", "no-key", "unclosed-section", "key-before-section", "duplicate-key",
    "duplicate-ignored-key", "second-default", "unknown-section", "no-session", "empty-file",
    "unknown-key", "wrong-case-key", "unknown-key-no-guess", "session-qualifier", "target-sub-id",
    "sender-sub-id", "no-begin-string", "no-sender", "no-target", "fix-4-2",
    "fixt", "initiator", "acceptor-case", "int-text", "int-decimal",
    "heartbeat-zero", "logon-timeout-negative", "max-latency-negative", "port-zero", "port-too-high",
    "yes-no", "yes-no-case", "session-type", "firms-empty-name", "firms-trailing-comma",
    "empty-value", "comp-id-space", "comp-id-equals", "empty-comp-id", "duplicate-session",
    "duplicate-session-later", "ports-differ", "port-unset", "port-overridden", "hosts-differ",
    "check-latency-differs",
])
def test_a_bad_file_names_the_entry(text, entry, why):
    err = refused(text)
    assert err.entry == "sessions.cfg" + (f":{entry}" if entry else ""), (err.entry, str(err))
    assert why in err.why, err.why
    assert str(err) == f"{err.entry}: {err.why}"


def test_default_source_name():
    with pytest.raises(ConfigError) as exc:
        parse_settings(HEAD + session("HeartBtInt=x"))
    assert exc.value.entry == "<settings>:[SESSION] 1:HeartBtInt"


def test_read_settings(tmp_path):
    path = tmp_path / "sessions.cfg"
    path.write_text(TYPICAL)
    assert read_settings(path) == read_settings(str(path)) == parse_settings(TYPICAL)
    path.write_bytes(b"\xef\xbb\xbf" + TYPICAL.replace("\n", "\r\n").encode())   # BOM, CRLF
    assert read_settings(path) == parse_settings(TYPICAL)


def test_read_settings_names_the_file_in_errors(tmp_path):
    path = tmp_path / "sessions.cfg"
    path.write_text(HEAD + session("HeartBtInt=x"))
    with pytest.raises(ConfigError) as exc:
        read_settings(path)
    assert exc.value.entry == f"{path}:[SESSION] 1:HeartBtInt"


def test_unreadable_files(tmp_path):
    missing = tmp_path / "nope.cfg"
    with pytest.raises(ConfigError) as exc:
        read_settings(missing)
    assert (exc.value.entry, exc.value.why) == (str(missing), "No such file or directory")
    with pytest.raises(ConfigError) as exc:
        read_settings(tmp_path)                                     # a directory
    assert exc.value.entry == str(tmp_path)
    binary = tmp_path / "binary.cfg"
    binary.write_bytes(b"[SESSION]\nTargetCompID=\xff\n")
    with pytest.raises(ConfigError) as exc:
        read_settings(binary)
    assert exc.value.entry == str(binary) and exc.value.why.startswith("not UTF-8 text")
    with pytest.raises(TypeError):
        read_settings(0)                                            # not a file descriptor
