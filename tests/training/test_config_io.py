"""Stage configs: YAML into pydantic, overrides from the command line, errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from training.config_io import ConfigError, load_config, parse_override


class _Optim(BaseModel):
    lr: float = 1e-4
    warmup: int = 0


class _Config(BaseModel):
    model: Path
    max_steps: int
    optim: _Optim = _Optim()


def test_yaml_overrides_and_nested_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: /models/base\nmax_steps: 10\noptim:\n  lr: 0.001\n")
    overrides = dict(map(parse_override, ["max_steps=3", "optim.warmup=2"]))
    config = load_config(path, _Config, overrides)
    expected = _Optim(lr=1e-3, warmup=2)
    assert config == _Config(model=Path("/models/base"), max_steps=3, optim=expected)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model: x\nmax_steps: many\n", "max_steps"),
        ("max_steps: 3\n", "model"),
        ("- a\n- b\n", "mapping"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_file_and_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, _Config)
    assert str(path) in str(caught.value)
    assert needle in str(caught.value)


def test_missing_file_and_malformed_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "none.yaml", _Config)
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("max_steps")
