"""fastcore.config: the embedded default, a table merged over it, a TOML file,
and the ConfigError an unusable configuration raises (naming its entry)."""
from __future__ import annotations

import os

import pytest

from fastcore.config import Config, Instrument, User, default_table, load, merge
from fastcore.engine import Engine
from fastcore.errors import ConfigError, FastcoreError


def test_default_loads():
    config = load()
    assert config.mode == "auto"
    assert [u.name for u in config.users] == ["PM1", "ET1", "ET2", "ET3", "ET4"]
    symbols = [i.symbol for i in config.instruments]
    assert "ESZ6" in symbols and len(symbols) == len(set(symbols))
    assert (config.engine.comp_id, config.engine.exec_id_prefix,
            config.engine.timestamp_precision) == ("FASTCORE", "", 3)
    assert load(None) == config == load({})
    assert Engine().config == config and Engine().sessions == ("PM1", "ET1", "ET2", "ET3", "ET4")


def test_a_config_is_returned_as_is():
    config = load({"mode": "worked"})
    assert load(config) is config
    assert Engine(config).config is config and not Engine(config).auto


def test_inline_table_merged_over_the_default():
    config = load({"mode": "worked", "engine": {"comp_id": "SELL"}})
    assert config.mode == "worked"
    # tables merge key by key: the other engine keys keep their defaults
    assert (config.engine.comp_id, config.engine.timestamp_precision) == ("SELL", 3)
    assert [u.name for u in config.users][0] == "PM1"
    # lists are replaced, not appended to
    config = load({"users": [{"name": "TRADER"}], "instruments": [{"symbol": "ABC"}]})
    assert config.users == (User("TRADER"),)
    assert config.instruments == (Instrument("ABC", gateway="CME-A"),)   # the first exchange gateway


def test_merge_does_not_touch_its_inputs():
    base = default_table()
    over = {"engine": {"comp_id": "X"}, "users": [{"name": "U"}]}
    out = merge(base, over)
    assert out["engine"] == {**base["engine"], "comp_id": "X"}
    assert base["engine"]["comp_id"] == "FASTCORE"
    out["users"].append({"name": "V"})
    assert over["users"] == [{"name": "U"}]
    assert default_table() == base


def test_toml_file(tmp_path):
    path = tmp_path / "fastcore.toml"
    path.write_text('mode = "worked"\n'
                    '[engine]\nexec_id_prefix = "EX"\ntimestamp_precision = 6\n'
                    '[[users]]\nname = "DESK1"\n[[users]]\nname = "DESK2"\n')
    for source in (path, str(path)):
        config = load(source)
        assert isinstance(config, Config)
        assert config.mode == "worked"
        assert (config.engine.comp_id, config.engine.exec_id_prefix,
                config.engine.timestamp_precision) == ("FASTCORE", "EX", 6)
        assert [u.name for u in config.users] == ["DESK1", "DESK2"]
        assert "ESZ6" in [i.symbol for i in config.instruments]      # from the default
    assert Engine(path).sessions == ("DESK1", "DESK2")


def test_config_is_frozen():
    config = load()
    with pytest.raises(AttributeError):
        config.mode = "worked"


@pytest.mark.parametrize("source, entry", [
    ({"mode": "bogus"}, "mode"),
    ({"mode": 1}, "mode"),
    ({"users": [{"name": 1}]}, "users[0].name"),
    ({"users": "PM1"}, "users"),
    ({"engine": "x"}, "engine"),
    ({"engine": {"timestamp_precision": 2}}, "engine.timestamp_precision"),
    ({"engine": {"comp_id": 5}}, "engine.comp_id"),
    ({"engine": {"reserve_orders": 15}}, "engine.reserve_orders"),
    ({"engine": {"reserve_orders": 1 << 31}}, "engine.reserve_orders"),
    ({"instruments": [{"symbol": "A"}, {"symbol": 2}]}, "instruments[1].symbol"),
    ({"users": []}, "users"),
    ({"users": [{"name": "A"}, {"name": "B"}, {"name": "A"}]}, "users[2].name"),
    ({"instruments": [{"symbol": "X"}, {"symbol": "X"}]}, "instruments[1].symbol"),
    ({"users": [{"name": ""}]}, "users[0].name"),
    ({"users": [{"name": "a|b"}]}, "users[0].name"),
    ({"users": [{"name": "a\x01b"}]}, "users[0].name"),
    ({"users": [{"name": "A", "desk": 1}]}, "users[0].desk"),
    ({"engine": {"bogus": 1}}, "engine.bogus"),
    ({"instruments": [{"symbol": "X", "tick": 0}]}, "instruments[0].tick"),
    ({"instruments": [{"symbol": "X", "tick": "0.000000001"}]}, "instruments[0].tick"),
    ({"instruments": [{"symbol": "X", "lot": "abc"}]}, "instruments[0].lot"),
    ({"instruments": [{"symbol": "X", "max_qty": -1}]}, "instruments[0].max_qty"),
    ({"instruments": [{"symbol": "X", "min_qty": 5, "max_qty": 2}]}, "instruments[0].min_qty"),
    ({"instruments": [{"symbol": "X", "band": "nan"}]}, "instruments[0].band"),
    ({"matching": {"when_halted": "wait"}}, "matching.when_halted"),
    ({"matching": {"self_trade": {"A": "cancel_all"}}}, "matching.self_trade.A"),
], ids=["bad-mode", "mode-type", "user-name-type", "users-type", "engine-type",
        "precision", "comp-id-type", "reserve-too-small", "reserve-too-large",
        "symbol-type", "no-users", "duplicate-user",
        "duplicate-symbol", "empty-name", "pipe-in-name", "soh-in-name",
        "unknown-key-in-user", "unknown-key-in-engine", "zero-tick", "tick-too-fine",
        "lot-not-a-number", "negative-max", "min-above-max", "band-nan", "when-halted",
        "stp-mode"])
def test_invalid_config_names_the_entry(source, entry):
    with pytest.raises(ConfigError) as exc:
        load(source)
    err = exc.value
    assert isinstance(err, FastcoreError)
    assert err.entry == entry, (err.entry, str(err))
    assert str(err).startswith(f"{entry}: ") and err.why
    with pytest.raises(ConfigError):
        Engine(source)


def test_unknown_key_is_named_in_the_message():
    with pytest.raises(ConfigError) as exc:
        load({"engine": {"bogus": 1}})
    assert "bogus" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load({"bogus": 1})
    assert "bogus" in str(exc.value)


def test_unknown_top_level_key_names_the_entry():
    with pytest.raises(ConfigError) as exc:
        load({"bogus": 1})
    assert exc.value.entry == "bogus"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.entry == str(path)
    assert "No such file" in exc.value.why
    with pytest.raises(ConfigError) as exc:
        load(tmp_path)                                  # a directory
    assert exc.value.entry == str(tmp_path)


@pytest.mark.parametrize("text", [
    "mode = = 1\n", "[engine\n", 'mode = "auto"\nmode = "worked"\n',
    pytest.param("\xff\xfe", id="not-utf8"),
])
def test_malformed_toml(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.entry == str(path)
    assert "not TOML" in exc.value.why


def test_invalid_value_in_a_file_names_the_entry(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[users]]\nname = "A"\n[[users]]\nname = "A"\n')
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.entry == "users[1].name"


def test_a_number_is_not_a_config_source(tmp_path):
    path = tmp_path / "fd.toml"
    path.write_text('mode = "worked"\n')
    fd = os.open(path, os.O_RDONLY)
    closed = False
    try:
        with pytest.raises((ConfigError, TypeError)):
            load(fd)
    finally:
        try:
            os.fstat(fd)
        except OSError:
            closed = True
        if not closed:
            os.close(fd)
    assert not closed
