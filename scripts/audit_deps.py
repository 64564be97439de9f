"""Audit the installed Python packages for known vulnerabilities (pip-audit), for scripts/test.sh.

- Findings fail the step, except the ids listed in .pip-audit-ignore (one per line, each with a
  `# reason`).
- pip-audit reads its vulnerability data from the package index's JSON API, else (here) from OSV.
  Where neither can be reached (a mirror without the JSON API, no network), pip-audit reports
  every package as "not found" and, misleadingly, "No known vulnerabilities". This script says
  plainly that nothing was audited and passes, unless MINUTA_AUDIT_STRICT=1 (for a CI runner that
  must audit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ROOT / ".pip-audit-ignore"
TIMEOUT_SECONDS = 900


@dataclass
class AuditReport:
    audited: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    findings: list[tuple[str, str, str, list[str]]] = field(default_factory=list)


def ignored_ids(path: Path = IGNORE_FILE) -> list[str]:
    """Vulnerability ids from the ignore file; a line without a reason is an error."""
    if not path.exists():
        return []
    ids: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        entry, _, reason = line.partition("#")
        if not entry.strip():
            continue
        if not reason.strip():
            raise SystemExit(f"{path.name}:{number}: '{entry.strip()}' needs a '# reason'")
        ids.append(entry.strip())
    return ids


def parse_report(data: Mapping[str, Any]) -> AuditReport:
    report = AuditReport()
    dependencies = data.get("dependencies", [])
    assert isinstance(dependencies, list)
    for dep in dependencies:
        name = f"{dep['name']} {dep.get('version', '')}".strip()
        reason = str(dep.get("skip_reason") or "")
        if reason:
            if "editable" not in reason:  # the project itself
                report.unaudited.append(name)
            continue
        report.audited.append(name)
        for vuln in dep.get("vulns", []):
            report.findings.append(
                (str(dep["name"]), str(dep["version"]), str(vuln["id"]), vuln["fix_versions"])
            )
    return report


SERVICES = ("pypi", "osv")


def run_pip_audit(ignore: list[str], service: str) -> tuple[dict[str, Any] | None, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [
            sys.executable, "-m", "pip_audit", "--local", "--skip-editable",
            "--progress-spinner", "off", "--format", "json", "--output", str(out),
            "--vulnerability-service", service,
            *(arg for vuln in ignore for arg in ("--ignore-vuln", vuln)),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"pip-audit did not finish within {TIMEOUT_SECONDS} s"
        if not out.exists():
            return None, (done.stderr or done.stdout).strip()[-2000:]
        return json.loads(out.read_text()), done.stderr.strip()


def main() -> int:
    strict = os.environ.get("MINUTA_AUDIT_STRICT") == "1"
    ignore = ignored_ids()
    problems: list[str] = []
    report: AuditReport | None = None
    for service in SERVICES:
        data, errors = run_pip_audit(ignore, service)
        if data is None:
            last = errors.strip().splitlines()[-1] if errors.strip() else "no output"
            problems.append(f"{service}: pip-audit failed: {last[:200]}")
            continue
        report = parse_report(data)
        if report.audited:
            break
        problems.append(f"{service}: all {len(report.unaudited)} packages 'not found'")
        report = None
    if report is None:
        print(
            "dependency audit: NOT AUDITED - no vulnerability data could be fetched from this "
            f"machine ({'; '.join(problems)}). Run scripts/audit_deps.py where the package "
            "index's JSON API or OSV is reachable."
        )
        return 1 if strict else 0
    for name, version, vuln, fixes in report.findings:
        fixed_in = ", ".join(fixes) or "no fixed release"
        print(f"VULNERABLE {name} {version}: {vuln} (fixed in {fixed_in})")
    print(
        f"dependency audit: {len(report.audited)} packages audited, "
        f"{len(report.findings)} findings, {len(ignore)} ignored by id, "
        f"{len(report.unaudited)} not audited ({', '.join(report.unaudited[:10])}"
        f"{' ...' if len(report.unaudited) > 10 else ''})"
    )
    if report.findings:
        print(f"Upgrade within the ranges of pyproject.toml, or list the id in {IGNORE_FILE.name}.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
