"""One type check for every option: values from the CLI, --set, --method-opt, TOML and the
Python API are coerced to the declared type or refused with the option's name."""

from __future__ import annotations

import pytest

from facefair.config import TrainConfig
from facefair.errors import ConfigError
from facefair.methods import get_method
from facefair.options import coerce, parse_kv, read_value


def test_text_is_read_as_toml_values_and_bare_words_stay_text() -> None:
    assert read_value("false") is False and read_value("3") == 3 and read_value("0.01") == 0.01
    assert read_value('"x y"') == "x y" and read_value("ascending") == "ascending"
    assert read_value("0,0.01") == "0,0.01" and read_value("[1, 2]") == [1, 2]
    assert parse_kv(["batch-size=32", "bf16=false", "arch=resnet18"], "--set") == {
        "batch_size": 32, "bf16": False, "arch": "resnet18"}
    for bad in ("bf16", "=3", "x="):
        with pytest.raises(ConfigError, match="--set takes KEY=VALUE"):
            parse_kv([bad], "--set")


@pytest.mark.parametrize("value, kind, want", [
    (3, int, 3), ("3", int, 3), (2, float, 2.0), ("1e-3", float, 1e-3), (True, bool, True),
    ("false", bool, False), ("x", str, "x"), (None, int | None, None), ("7", int | None, 7),
    ("0,0.01", tuple[float, ...], (0.0, 0.01)), ([3, 4], tuple[int, ...], (3, 4)), ({"a": 1}, dict, {"a": 1}),
])
def test_coerce_converts_what_means_the_same(value, kind, want) -> None:
    got = coerce(value, kind, "opt")
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("value, kind, message", [
    (3.5, int, "must be an integer, got 3.5"), (True, int, "must be an integer"), ("yes", bool, "true or false"),
    (1, bool, "true or false"), ("fast", float, "must be a number"), (3, str, "must be text"),
    ("none", float | None, "a number or none"), ("1,x", tuple[int, ...], "must be an integer, got 'x'"), ("x", dict, "a table"),
])
def test_coerce_refuses_what_would_train_something_else(value, kind, message) -> None:
    with pytest.raises(ConfigError, match=message):
        coerce(value, kind, "opt")


def test_trainer_and_method_options_are_checked_against_their_declared_types() -> None:
    cfg = TrainConfig()
    cfg.override({"epochs": "4", "lr": 1, "max_train": None, "bf16": "true"})
    assert (cfg.epochs, cfg.lr, cfg.max_train, cfg.bf16) == (4, 1.0, None, True) and isinstance(cfg.lr, float)
    for options, message in (({"flip": "yes"}, "option flip must be true or false, got 'yes' in run 'x'"),
                             ({"epochs": 3.5}, "option epochs must be an integer"),
                             ({"colour": 1}, "unknown training option 'colour' in run 'x'")):
        with pytest.raises(ConfigError, match=message):
            cfg.override(options, "run 'x'")
    assert cfg.epochs == 4  # a refused override changes nothing it reached
    asac = get_method("asac", {"eps": "0,0.01", "random_start": "false", "steps": "3"}).options
    assert (asac.eps, asac.random_start, asac.steps) == ((0.0, 0.01), False, 3)
    with pytest.raises(ConfigError, match="option steps must be an integer"):
        get_method("asac", {"steps": 2.5})


def test_a_run_folders_config_is_read_with_its_types_checked(tmp_path) -> None:
    path = tmp_path / "config.json"
    for text, message in (('{"epochs": "many"}', "option epochs must be an integer, got 'many'"),
                          ('{"bf16": 1}', "option bf16 must be true or false"),
                          ('[1, 2]', "a config is a JSON object"),
                          ('{"colour": 1}', "unknown config keys: colour")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as e:
            TrainConfig.load(path)
        assert str(path) in str(e.value)
    path.write_bytes(b'{"arch": "\xff"}')
    with pytest.raises(ConfigError, match="corrupt config"):
        TrainConfig.load(path)
    TrainConfig().save(path)
    assert TrainConfig.load(path) == TrainConfig()
