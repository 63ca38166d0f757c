"""The scenario runner (fastcore.scenario) and `fastcore scenario`: the
Appendix D conformance files, small generated scenarios for each feature of
the format, and the command in a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ALONE
from fastcore.scenario import Result, run_file, run_paths, scenario_files

ROOT = Path(__file__).resolve().parent.parent
APPENDIX_D = ROOT / "tests" / "scenarios" / "appendix_d"
AUTO = ROOT / "tests" / "scenarios" / "auto"

MATRICES = (
    ["A.1.a", "A.1.b"]
    + [f"B.1.{c}" for c in "abcdef"]
    + [f"C.1.{c}" for c in "abc"] + ["C.2.a"] + [f"C.3.{c}" for c in "abc"]
    + [f"D.1.{c}" for c in "abc"] + [f"D.2.{c}" for c in "abcd"]
    + [f"E.1.{c}" for c in "abcde"]
    + [f"F.1.{c}" for c in "abc"]
    + [f"G.1.{c}" for c in "abc"]
    + [f"H.1.{c}" for c in "abcd"]
    + ["I.1.a", "I.1.b"]
    + [f"J.1.{c}" for c in "abcd"]
    + ["K.1.a", "K.1.b"]
    + ["L.1.a", "L.1.b"]
)

D = {"35": "D", "11": "X", "55": "ESZ6", "54": "1", "38": "10000", "40": "2", "44": "100",
     "59": "0", "60": "20261121-09:30:00.000"}


def order(**fields):
    return {**D, **fields}


def write(directory: Path, name: str, steps, config=None, ref=None) -> Path:
    scenario = {"ref": ref or name, "title": name, "steps": steps}
    if config is not None:
        scenario["config"] = config
    path = directory / f"{name}.json"
    path.write_text(json.dumps(scenario))
    return path


def play(tmp_path, steps, config=None, name="T") -> Result:
    return run_file(write(tmp_path, name, steps, config))


# ---- the Appendix D files -------------------------------------------------------

def test_appendix_d_all_pass():
    results = run_paths([APPENDIX_D])
    assert len(results) == len(list(APPENDIX_D.glob("*.json"))) >= 47
    failed = [r.line() for r in results if not r.passed]
    assert failed == []
    assert all(r.line() == f"PASS {r.ref}" for r in results)


def test_appendix_d_covers_the_47_matrices():
    assert len(MATRICES) == len(set(MATRICES)) == 47
    refs = {json.loads(p.read_text())["ref"] for p in APPENDIX_D.glob("*.json")}
    assert sorted(set(MATRICES) - refs) == []
    # the extra files are reject alternatives of a matrix
    for ref in refs - set(MATRICES):
        assert ref.split(" ")[0] in MATRICES and "reject" in ref


def test_auto_mode_matrices_pass_against_resting_liquidity():
    results = run_paths([AUTO])
    assert [r.line() for r in results if not r.passed] == []
    refs = {r.ref.split(" ")[0] for r in results}
    assert refs == {"I.1.a", "I.1.b", "K.1.a", "K.1.b"}
    for path in AUTO.glob("*.json"):
        scenario = json.loads(path.read_text())
        assert scenario["config"]["mode"] == "auto"
        assert any(step.get("as") == "ET1" for step in scenario["steps"])   # real liquidity


def test_scenario_files_sorted_and_recursive(tmp_path):
    (tmp_path / "b").mkdir()
    for p in (tmp_path / "b" / "2.json", tmp_path / "1.json", tmp_path / "b" / "0.json"):
        p.write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    files = scenario_files([tmp_path])
    assert files == sorted(files) and len(files) == 3
    one = tmp_path / "1.json"
    assert scenario_files([one, tmp_path / "b"]) == [one, tmp_path / "b" / "0.json",
                                                      tmp_path / "b" / "2.json"]


# ---- generated scenarios -------------------------------------------------------------

WORKED = {"mode": "worked"}


def test_passing_scenario(tmp_path):
    r = play(tmp_path, [
        {"send": order()},
        {"expect_none": True},
        {"act": "ack", "order": "X"},
        {"expect": {"35": "8", "11": "X", "150": "0", "39": "0", "151": "10000"}},
        {"act": "fill", "order": "X", "qty": "1000", "px": "100"},
        {"expect": {"150": "F", "39": "1", "32": "1000", "14": "1000"}},
        {"expect_none": True},
    ], WORKED)
    assert r.passed and r.step == 0 and r.message == "" and r.line() == "PASS T"


def test_fail_names_the_step_and_what_was_expected(tmp_path):
    r = play(tmp_path, [
        {"send": order()},
        {"act": "ack", "order": "X"},
        {"expect": {"35": "8", "150": "4", "39": "0", "11": "X", "9999": "1"}},
        {"expect_none": True},
    ], WORKED, name="F1")
    assert not r.passed and r.step == 3
    assert r.message == "expected 150=4 9999=1, got 150=0 9999=(none)"
    assert r.line() == "FAIL F1: step 3: expected 150=4 9999=1, got 150=0 9999=(none)"


def test_expect_with_nothing_pending(tmp_path):
    r = play(tmp_path, [{"send": order()}, {"expect": {"150": "0"}}], WORKED)
    assert (r.passed, r.step) == (False, 2)
    assert r.message.startswith("expected 150=0 for PM1, got nothing")


def test_expect_none_fails_when_something_is_pending(tmp_path):
    r = play(tmp_path, [{"send": order()}, {"expect_none": True}])
    assert (r.passed, r.step) == (False, 2)
    assert r.message.startswith("expected nothing more for PM1, got ") and "150=0" in r.message


def test_refused_act_fails_that_step(tmp_path):
    r = play(tmp_path, [
        {"send": order()},
        {"expect_none": True},
        {"act": "fill", "order": "X", "qty": "100", "px": "100"},
        {"expect_none": True},
    ], WORKED, name="R1")
    assert (r.passed, r.step) == (False, 3)
    assert r.message == "fill order X (Pending New): not valid in the order's state"
    assert r.line() == f"FAIL R1: step 3: {r.message}"


@pytest.mark.parametrize("step, why", [
    ({"act": "fly", "order": "X"}, "no such command"),
    ({"act": "ack"}, "ack"),                           # a missing argument
    ({"act": "ack", "order": "X", "colour": "red"}, "colour"),
    ({"act": "ack", "order": "NOPE"}, "no such order"),
    ({"send": {"11": "Z"}}, "MsgType"),
    ({"send": order(), "as": "NOBODY"}, "no user 'NOBODY'"),
    ({"expect": {"35": "8"}, "to": "NOBODY"}, "no user 'NOBODY'"),
    ({"hello": 1}, "send, act, expect or expect_none"),
    ("a string", "a step is a JSON object"),
])
def test_bad_steps_fail_that_step(tmp_path, step, why):
    r = play(tmp_path, [{"send": order()}, step], WORKED)
    assert (r.passed, r.step) == (False, 2), r
    assert why in r.message


def test_expect_to_another_user(tmp_path):
    r = play(tmp_path, [
        {"send": order(), "as": "ET2"},
        {"expect_none": True, "to": "PM1"},
        {"expect": {"11": "X", "150": "0", "56": "ET2"}},         # default: the last sender
        {"send": order(**{"11": "W"})},
        {"expect": {"11": "W", "150": "0", "56": "PM1"}, "to": "PM1"},
        {"expect_none": True, "to": "*"},
    ], ALONE)
    assert r.passed, r.line()


def test_expect_to_a_list_with_only(tmp_path):
    both = [{"send": order(), "as": "PM1"}, {"send": order(), "as": "ET1"}]
    ok = play(tmp_path, both + [
        {"expect": {"35": "8", "11": "X", "150": "0"}, "to": ["PM1", "ET1"], "only": True},
        {"expect_none": True, "to": "*"},
    ], ALONE, name="L1")
    assert ok.passed, ok.line()
    # ET1 got the same report too: "only" to PM1 fails
    bad = play(tmp_path, both + [
        {"expect": {"35": "8", "11": "X", "150": "0"}, "to": ["PM1"], "only": True},
    ], ALONE, name="L2")
    assert (bad.passed, bad.step) == (False, 3)
    assert bad.message == "ET1 received 35=8 11=X 150=0 too"
    # without "only" the same step holds
    assert play(tmp_path, both + [
        {"expect": {"35": "8", "11": "X", "150": "0"}, "to": ["PM1"]},
    ], ALONE, name="L3").passed
    # a listed user that got nothing fails, naming the user
    miss = play(tmp_path, both[:1] + [
        {"expect": {"150": "0"}, "to": ["PM1", "ET3"]},
    ], ALONE, name="L4")
    assert (miss.passed, miss.step) == (False, 2) and "for ET3, got nothing" in miss.message


def test_expect_to_a_list_names_the_user_that_differs(tmp_path):
    r = play(tmp_path, [
        {"send": order(), "as": "PM1"},
        {"send": order(**{"38": "5"}), "as": "ET1"},
        {"expect": {"38": "10000"}, "to": ["PM1", "ET1"]},
    ], ALONE)
    assert (r.passed, r.step) == (False, 3)
    assert r.message == "expected 38=10000, got 38=5 (to ET1)"


def test_orders_are_seen_by_their_audience(tmp_path):
    """With the default configuration (seed 000's credentials), an order on
    CME-A reaches every user whose order book holds its credential."""
    five = ["PM1", "ET1", "ET2", "ET3", "ET4"]
    r = play(tmp_path, [
        {"send": order(), "as": "ET3"},
        {"expect": {"11": "X", "150": "0"}, "to": five, "only": True},
        {"expect_none": True, "to": "*"},
    ])
    assert r.passed, r.line()
    r = play(tmp_path, [{"send": order(), "as": "ET3"},
                        {"expect": {"11": "X"}, "to": ["ET3"], "only": True}], name="O2")
    assert (r.passed, r.step) == (False, 2) and r.message == "PM1 received 11=X too"


@pytest.mark.parametrize("refused, passes, why", [
    ("claimed by ET1", True, ""),
    ("claimed by ET2", False, "refused with 'claim order S (New): claimed by ET1', not 'claimed by ET2'"),
])
def test_refused_step(tmp_path, refused, passes, why):
    staged = order(**{"11": "S", "21": "3"})
    r = play(tmp_path, [
        {"send": staged},
        {"act": "claim", "order": "S", "by": "ET1"},
        {"act": "claim", "order": "S", "by": "ET2", "refused": refused},
    ])
    assert (r.passed, r.message) == (passes, why)
    r = play(tmp_path, [{"send": staged}, {"act": "claim", "order": "S", "by": "ET1",
                                           "refused": "anything"}], name="R2")
    assert (r.passed, r.step) == (False, 2)
    assert r.message == "claim was not refused ('anything' expected)"


def test_expect_none_to_everyone(tmp_path):
    r = play(tmp_path, [
        {"send": order(), "as": "ET4"},
        {"expect_none": True, "to": "PM1"},
        {"expect_none": True, "to": "*"},
    ], ALONE, name="N1")
    assert (r.passed, r.step) == (False, 3)
    assert r.message.startswith("expected nothing more for ET4, got ")


@pytest.mark.parametrize("expected, passes", [
    ("10000", True), ("10000.0", True), ("1E+4", True), ("010000", True), (10000, True),
    ("10000.5", False), ("ten", False)])
def test_numbers_compare_as_decimals(tmp_path, expected, passes):
    r = play(tmp_path, [{"send": order()}, {"expect": {"38": expected, "44": "100.00"}}])
    assert r.passed is passes, r.line()
    if not passes:
        assert r.message == f"expected 38={expected}, got 38=10000"


def test_text_compares_exactly(tmp_path):
    r = play(tmp_path, [{"send": order(**{"11": "Ab1"})}, {"expect": {"11": "ab1"}}])
    assert not r.passed and r.message == "expected 11=ab1, got 11=Ab1"
    r = play(tmp_path, [{"send": order(**{"11": "Ab1"})}, {"expect": {"11": "Ab1 "}}])
    assert not r.passed


@pytest.mark.parametrize("config", [None, "default"])
def test_config_default(tmp_path, config):
    r = play(tmp_path, [                                  # auto: the engine answers itself
        {"send": order()},
        {"expect": {"150": "0", "49": "FASTCORE"}},
        {"send": order(**{"11": "Y", "55": "NQZ6"}), "as": "ET4"},
        {"expect": {"150": "0"}, "to": "ET4"},
    ], config)
    assert r.passed, r.line()


def test_config_inline(tmp_path):
    config = {"mode": "worked", "engine": {"comp_id": "DESK"},
              "users": [{"name": "BUYER"}], "instruments": [{"symbol": "ABC"}]}
    r = play(tmp_path, [
        {"send": order(**{"55": "ABC"})},                   # the default client: BUYER
        {"expect_none": True, "to": "*"},
        {"act": "ack", "order": "X"},
        {"expect": {"150": "0", "49": "DESK", "56": "BUYER"}, "to": "BUYER"},
        {"send": order(**{"11": "E", "55": "ESZ6"})},
        {"expect": {"150": "8", "103": "1"}},
    ], config)
    assert r.passed, r.line()


def _toml(directory: Path, name="BUYER"):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cfg.toml").write_text(f'mode = "worked"\n[[users]]\nname = "{name}"\n')


def test_config_toml_relative_to_the_scenario(tmp_path, monkeypatch):
    scen = tmp_path / "scenarios" / "sub"
    _toml(scen.parent / "configs")
    _toml(scen, "OTHER")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    steps = [
        {"send": order()},
        {"expect_none": True, "to": "*"},                  # worked mode
        {"act": "ack", "order": "X"},
        {"expect": {"150": "0", "56": "BUYER"}, "to": "BUYER"},
    ]
    assert run_file(write(scen, "rel", steps, "../configs/cfg.toml")).passed
    assert run_file(write(scen, "abs", steps, str(scen.parent / "configs" / "cfg.toml"))).passed
    other = run_file(write(scen, "here", steps, "cfg.toml"))
    assert (other.passed, other.step) == (False, 4)          # that file's user is OTHER
    assert "no user 'BUYER'" in other.message


def test_config_toml_relative_to_the_scenario_not_the_cwd(tmp_path, monkeypatch):
    scen = tmp_path / "scenarios"
    _toml(scen, "BUYER")
    cwd = tmp_path / "cwd"
    _toml(cwd, "SOMEONE")
    monkeypatch.chdir(cwd)
    r = run_file(write(scen, "rel", [
        {"send": order()},
        {"act": "ack", "order": "X"},
        {"expect": {"150": "0"}, "to": "BUYER"},
    ], "cfg.toml"))
    assert r.passed, r.line()


@pytest.mark.parametrize("config, why", [
    ("nope.toml", "No such file"),
    ({"mode": "bogus"}, "mode"),
    ({"users": []}, "users"),
])
def test_unusable_config_is_a_failure_of_the_file(tmp_path, config, why):
    r = play(tmp_path, [{"send": order()}], config, name="C")
    assert (r.passed, r.step) == (False, 0)
    assert r.message.startswith("not a playable scenario: ") and why in r.message
    assert r.line() == f"FAIL C: {r.message}"


@pytest.mark.parametrize("text", [
    '{"ref": "M", "steps": [',
    "",
    "[]",
    '{"ref": "M"}',
    '{"ref": "M", "steps": {}}',
    "\xff not json",
])
def test_malformed_file_is_a_failure_not_a_crash(tmp_path, text):
    path = tmp_path / "M.json"
    path.write_bytes(text.encode("latin-1"))
    r = run_file(path)
    assert (r.passed, r.step) == (False, 0)
    assert r.message.startswith("not a playable scenario")
    assert r.line().startswith("FAIL ")


def test_file_that_cannot_be_read(tmp_path):
    r = run_file(tmp_path / "missing.json")
    assert (r.passed, r.step, r.ref) == (False, 0, "missing")
    assert "not a playable scenario" in r.message


def test_ref_defaults_to_the_file_name(tmp_path):
    path = tmp_path / "no-ref.json"
    path.write_text(json.dumps({"steps": []}))
    assert run_file(path).line() == "PASS no-ref"


@pytest.mark.parametrize("step", [
    {"send": {"35": "D", "abc": "1"}},                     # a tag that is not a number
    {"send": "D"},                                         # send is not an object
    {"expect": ["150", "0"]},                              # expect is not an object
], ids=["non-numeric-tag", "send-not-object", "expect-not-object"])
def test_malformed_step_is_a_failure_not_a_crash(tmp_path, step):
    r = play(tmp_path, [{"send": order()}, step])
    assert (r.passed, r.step) == (False, 2)


# ---- the command ------------------------------------------------------------------------

def fastcore(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastcore.cli", "scenario", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_cli_appendix_d():
    out = fastcore(APPENDIX_D)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    n = len(list(APPENDIX_D.glob("*.json")))
    assert len(lines) == n + 1
    assert all(line.startswith("PASS ") for line in lines[:-1])
    assert lines[-1] == f"{n} passed, 0 failed"
    assert {line[5:] for line in lines[:-1]} >= set(MATRICES)


def test_cli_reports_failures_and_exit_status(tmp_path):
    good = write(tmp_path, "a-good", [{"send": order()}, {"expect": {"150": "0"}}])
    write(tmp_path, "b-bad", [{"send": order()}, {"expect": {"150": "4"}}])
    (tmp_path / "c-broken.json").write_text("{")
    out = fastcore(tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines() == [
        "PASS a-good",
        "FAIL b-bad: step 2: expected 150=4, got 150=0",
        out.stdout.splitlines()[2],
        "1 passed, 2 failed",
    ]
    assert out.stdout.splitlines()[2].startswith("FAIL c-broken: not a playable scenario: ")
    only_good = fastcore(good)
    assert (only_good.returncode, only_good.stdout) == (0, "PASS a-good\n1 passed, 0 failed\n")


def test_cli_no_files(tmp_path):
    out = fastcore(tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert "no scenario files found" in out.stderr


def test_cli_console_script(tmp_path):
    script = Path(sys.executable).with_name("fastcore")     # installed by pip install
    good = write(tmp_path, "g", [{"send": order()}, {"expect": {"150": "0"}}])
    out = subprocess.run([str(script), "scenario", str(good)], capture_output=True, text=True,
                         timeout=120)
    assert (out.returncode, out.stdout) == (0, "PASS g\n1 passed, 0 failed\n")


def test_cli_numeric_config_is_a_failure_of_that_file(tmp_path):
    write(tmp_path, "a-numeric", [{"send": order()}], config=1)
    write(tmp_path, "b-good", [{"send": order()}, {"expect": {"150": "0"}}])
    out = fastcore(tmp_path)
    lines = out.stdout.splitlines()
    assert lines[1:] == ["PASS b-good", "1 passed, 1 failed"], out.stdout + out.stderr
    assert lines[0].startswith("FAIL a-numeric: ")
    assert out.returncode == 1
