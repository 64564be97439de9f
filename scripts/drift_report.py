"""What the next lock upgrade would break, before it is made (not part of CI's verdict).

Resolves the newest versions pyproject.toml allows, ignoring requirements/lock-cpu.txt, installs
them into a throwaway virtualenv, runs ruff, mypy and the fast tests there, and prints which
upgrades moved and which failures name them. Then upgrading is a routine job:

    python scripts/drift_report.py                # report only
    bash scripts/lock.sh --upgrade                # take the upgrades once they pass

Needs network access to the package index; it changes nothing in the repo.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock-cpu.txt"
# Tests that need no model run and no long-lived server: minutes of work, not the full hour.
FAST_TESTS = (
    "tests/scripts",
    "tests/core/telemetry",
    "tests/core/messaging",
    "tests/services/api/test_meetings_api.py",
    "tests/services/api/test_events.py",
    "tests/services/api/test_webhooks.py",
    "tests/services/api/db",
    "tests/ml_controller/minutes",
    "tests/core/export",
    "tests/ml_controller/models/test_registry.py",
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


@dataclass
class Upgrade:
    name: str
    old: str | None
    new: str | None
    failures: list[str] = field(default_factory=list)

    @property
    def major(self) -> bool:
        if not self.old or not self.new:
            return True
        return self.old.split(".")[0] != self.new.split(".")[0] or (
            self.old.startswith("0.") and self.old.split(".")[:2] != self.new.split(".")[:2]
        )


def pins(text: str) -> dict[str, str]:
    return {name.lower().replace("_", "-"): ver for name, ver in _PIN.findall(text)}


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(cmd[:6]), "…" if len(cmd) > 6 else "", flush=True)
    return subprocess.run(cmd, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def resolve_newest(uv: str, out: Path, torch_links: str) -> str:
    result = run(
        [
            uv,
            "pip",
            "compile",
            str(ROOT / "pyproject.toml"),
            "--extra",
            "dev",
            "--extra",
            "train",
            "--upgrade",
            "--generate-hashes",
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--no-header",
            "--no-emit-find-links",
            "--find-links",
            torch_links,
            "-o",
            str(out),
        ],
        cwd=ROOT,
    )
    if result.returncode:
        sys.exit(f"resolution failed:\n{result.stderr}")
    return out.read_text()


def install(uv: str, venv: Path, requirements: Path, torch_links: str, llama_wheel: Path) -> None:
    run([sys.executable, "-m", "venv", str(venv)], check=True)
    text = re.sub(
        r"^llama-cpp-python==.*?(?=^[a-z0-9])", "", requirements.read_text(), flags=re.M | re.S
    )
    plain = requirements.with_suffix(".install.txt")
    plain.write_text(text + f"\nllama-cpp-python @ file://{llama_wheel}\n")
    result = uv_install(uv, venv, "--find-links", torch_links, "-r", str(plain))
    if result.returncode:
        sys.exit(f"install of the newest versions failed:\n{result.stderr[-4000:]}")
    uv_install(uv, venv, "--no-deps", "--no-build-isolation", "-e", str(ROOT)).check_returncode()


def uv_install(uv: str, venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    python = str(venv / "bin" / "python")
    return run([uv, "pip", "install", "--python", python, "--quiet", *args])


def checks(venv: Path, tests: tuple[str, ...]) -> dict[str, str]:
    """Output of each check that failed, by check name."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bin_ = venv / "bin"
    commands = {
        "ruff": [
            str(bin_ / "ruff"),
            "check",
            "ml_controller",
            "services",
            "training",
            "tests",
            "benchmarks",
            "scripts",
        ],
        "mypy": [str(bin_ / "mypy")],
        "tests": [
            str(bin_ / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--maxfail=50",
            *tests,
        ],
    }
    failed = {}
    for name, cmd in commands.items():
        started = time.monotonic()
        result = run(cmd, cwd=ROOT, env=env)
        print(f"  {name}: exit {result.returncode} in {time.monotonic() - started:.0f} s")
        if result.returncode:
            failed[name] = result.stdout + result.stderr
    return failed


def failure_lines(output: str) -> list[str]:
    keep = re.compile(r"(error:|Error|FAILED|ERROR|Exception|^E\s)")
    return [line.strip() for line in output.splitlines() if keep.search(line)]


def attribute(upgrades: list[Upgrade], failed: dict[str, str]) -> list[str]:
    """Give each failure line to the upgraded packages it names; the rest stay unattributed."""
    unattributed = []
    for check, output in failed.items():
        for line in failure_lines(output):
            lowered = line.lower()
            owners = [
                u
                for u in upgrades
                if re.search(
                    rf"\b{re.escape(u.name.replace('-', '_'))}\b", lowered.replace("-", "_")
                )
            ]
            for owner in owners:
                owner.failures.append(f"[{check}] {line[:200]}")
            if not owners:
                unattributed.append(f"[{check}] {line[:200]}")
    return unattributed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="*", default=list(FAST_TESTS))
    parser.add_argument("--keep", action="store_true", help="keep the throwaway venv")
    parser.add_argument(
        "--always", action="store_true", help="run the checks even when nothing would change"
    )
    args = parser.parse_args()
    # The lock's own uv (in the venv) first: another uv may resolve differently.
    venv_uv = Path(sys.executable).parent / "uv"
    uv = str(venv_uv) if venv_uv.exists() else shutil.which("uv") or "uv"
    torch_links = os.environ.get("MINUTA_TORCH_FIND_LINKS", "/opt/wheels")
    home = Path(os.environ.get("MINUTA_HOME", Path.home() / ".cache" / "minuta"))
    wheels = Path(os.environ.get("MINUTA_WHEEL_CACHE", home / "wheels"))
    work = Path(tempfile.mkdtemp(prefix="minuta-drift-"))
    try:
        newest_text = resolve_newest(uv, work / "newest.txt", torch_links)
        old, new = pins(LOCK.read_text()), pins(newest_text)
        upgrades = [
            Upgrade(name, old.get(name), new.get(name))
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
        ]
        print(f"\n{len(upgrades)} packages would change ({sum(u.major for u in upgrades)} majors)")
        if not upgrades and not args.always:
            return
        llama = sorted(wheels.glob(f"llama-{new.get('llama-cpp-python')}-*/llama_cpp_python-*.whl"))
        if not llama:
            sys.exit("no llama-cpp-python wheel of the new version: run scripts/install.sh first")
        install(uv, work / "venv", work / "newest.txt", torch_links, llama[0])
        failed = checks(work / "venv", tuple(args.tests))
        unattributed = attribute(upgrades, failed)
        print("\n== upgrades (old -> new), and the failures that name them")
        for u in upgrades:
            mark = "MAJOR" if u.major else "     "
            print(
                f"{mark} {u.name:28} {u.old or '-':>14} -> {u.new or '-':<14}"
                f" {'breaks ' + str(len(u.failures)) if u.failures else 'ok'}"
            )
            for line in u.failures[:8]:
                print(f"        {line}")
        if unattributed:
            print(f"\n== {len(unattributed)} failure lines name no upgraded package:")
            for line in unattributed[:40]:
                print(f"   {line}")
        verdict = "breaks" if failed else "passes"
        print(
            f"\nThe newest allowed versions {verdict} ruff, mypy and the fast tests"
            f" ({', '.join(failed) or 'all green'})."
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
