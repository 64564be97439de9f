"""Stage configs are YAML files validated by each stage's pydantic model.

Paths inside a config are relative to the working directory (the repository root in the examples
of `training/configs/`), so one file serves the CPU proof and, with its paths changed, a GPU run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from training.errors import TrainingError

M = TypeVar("M", bound=BaseModel)


class ConfigError(TrainingError, ValueError):
    """A config file is missing, not YAML, or does not match its stage's fields."""


def load_config(path: Path, model: type[M], overrides: dict[str, object] | None = None) -> M:
    """The config in `path` as `model`, with `overrides` (dotted keys) applied on top."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (see training/configs/ for examples)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: cannot override {dotted}: {key} is not a mapping")
        node[leaf] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def parse_override(text: str) -> tuple[str, object]:
    """`key.sub=value` from the command line; the value is read as YAML (numbers, booleans)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. max_steps=10)")
    return key.strip(), yaml.safe_load(raw)
