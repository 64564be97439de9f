"""The locks say exactly what pyproject.toml asks for, every pin carries hashes, and this
environment was installed from the CPU lock."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"cpu": ("dev", "train"), "gpu": ("gpu",)}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def locked(name: str) -> dict[str, tuple[Version, list[str], bool]]:
    """name -> (version, hashes, asked for by pyproject) from requirements/lock-NAME.txt."""
    pins: dict[str, tuple[Version, list[str], bool]] = {}
    current: str | None = None
    for line in (ROOT / "requirements" / f"lock-{name}.txt").read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), [], False)
        elif current and (hashed := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current][1].append(hashed.group(1))
        elif current and "minuta (pyproject.toml)" in line:
            got, hashes, _ = pins[current]
            pins[current] = (got, hashes, True)
    return pins


def asked(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(text) for text in wanted]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_and_pyproject_agree(lock: str) -> None:
    pins = locked(lock)
    requirements = [r for r in asked(LOCKS[lock]) if r.marker is None or r.marker.evaluate()]
    assert pins, f"requirements/lock-{lock}.txt is empty"
    stale = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            stale.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            stale.append(f"{requirement} but the lock pins {pins[name][0]}")
    direct = {canonicalize_name(r.name) for r in requirements}
    stale += [
        f"{name} is locked for pyproject but no longer asked for"
        for name, (_, _, d) in pins.items()
        if d and name not in direct
    ]
    assert not stale, "run `bash scripts/lock.sh` and commit the result:\n" + "\n".join(stale)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_carries_a_sha256(lock: str) -> None:
    unhashed = [name for name, (_, hashes, _) in locked(lock).items() if not hashes]
    assert unhashed == []


def test_this_environment_is_the_cpu_lock() -> None:
    """scripts/install.sh syncs the venv to the lock; a package at another version means the
    tests ran against something users will not get."""
    drift = []
    for name, (pinned, _, _) in locked("cpu").items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            drift.append(f"{name} {pinned} is not installed")
            continue
        if installed != pinned:
            drift.append(f"{name}: installed {installed}, locked {pinned}")
    assert drift == [], "\n".join(drift)
