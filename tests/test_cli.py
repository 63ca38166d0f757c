"""`fastcore decode`, run as a user runs it: a real subprocess on real files."""
import json
import subprocess
import sys
from pathlib import Path

from fastcore import codec

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_795_253_400_000_000_000


def fastcore(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "fastcore.cli", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_decode_example_names_tags_and_flags_the_invalid_message():
    out = fastcore("decode", str(ROOT / "examples" / "session.fix"))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "NewOrderSingle (D)" in text and "ExecutionReport (8)" in text
    assert "    54 Side                     1 (BUY)" in text
    assert "INVALID: Value is incorrect (out of range) for this tag (tag 54)" in text


def test_decode_strict_fails_on_invalid_garbled_or_incomplete(tmp_path):
    enc = codec.Encoder("A", "B")
    good = enc.heartbeat(1, T0)
    f = tmp_path / "ok.fix"
    f.write_bytes(good + good)
    assert fastcore("decode", "--strict", str(f)).returncode == 0
    for bad in (good[:-3] + b"000", good + good[:20]):       # bad CheckSum; a cut tail
        f.write_bytes(bad)
        out = fastcore("decode", "--strict", str(f))
        assert out.returncode == 1
        assert b"dropped" in out.stdout or b"incomplete" in out.stdout


def test_decode_json_from_stdin_with_caret_a_delimiters():
    enc = codec.Encoder("CLIENT1", "FASTCORE")
    raw = enc.test_request(5, T0, "PING").replace(b"\x01", b"^A")
    out = fastcore("decode", "--json", "-", stdin=raw)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["msg_type"] == "1" and rec["error"] is None
    assert [112, "PING"] in rec["fields"]
