"""The Prometheus config, alert rules and Grafana dashboards: checked by promtool, and every
metric they name exists in a real scrape of the API's and a worker's /metrics."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from core.messaging.base import QUEUE_DEPTH_LABELS
from core.messaging.memory import MemoryBroker
from core.messaging.settings import BrokerSettings
from ml_controller.worker.health import HealthServer, WorkerMetrics, new_health_state
from tests.services.api.conftest import make_settings, open_stack

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "infra" / "prometheus"
GRAFANA = REPO / "infra" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
METRIC = re.compile(r"\b(minuta_[a-z0-9_]+)\b")
# Made by Prometheus itself, not by our processes.
PROMETHEUS_OWN = {"up"}
# What the issue asks the dashboards to show, by the metric that shows it.
REQUIRED_ON_DASHBOARD = {
    "minuta_queue_depth",
    "minuta_meetings",
    "minuta_worker_stage_duration_seconds_bucket",
    "minuta_worker_realtime_factor_bucket",
    "minuta_job_failures_total",
    "minuta_webhook_deliveries_total",
    "minuta_dead_letters_total",
    "minuta_http_requests_total",
    "minuta_http_request_duration_seconds_bucket",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def dashboard_expressions() -> list[str]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            found += [target["expr"] for target in panel.get("targets", [])]
    return found


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_prometheus_config_and_alert_rules_pass_promtool(tmp_path: Path) -> None:
    tool = promtool()
    # promtool wants the metrics token file the container's entrypoint writes: a copy of the
    # config (and its rules) points at one made here.
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert "credentials_file: /tmp/metrics_token" in config
    (tmp_path / "metrics_token").write_text("test-token")
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    copy = tmp_path / "prometheus.yml"
    copy.write_text(config.replace("/tmp/metrics_token", str(tmp_path / "metrics_token")))
    run(tool, "check", "config", str(copy))
    run(tool, "check", "rules", str(PROMETHEUS / "alerts.yml"))
    # The alerts' unit tests: each fires on what it is meant for, and not on the rest.
    assert "SUCCESS" in run(tool, "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    tool = promtool()
    exprs = dashboard_expressions()
    assert len(exprs) >= 10
    # promtool parses expressions in rule files: every panel query as a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": e.replace("$__rate_interval", "1m")}
                    for n, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run(tool, "check", "rules", str(path))


def test_dashboards_use_the_provisioned_datasource_and_show_what_is_asked() -> None:
    assert DASHBOARDS, "no dashboards in infra/grafana/dashboards"
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uid = sources["datasources"][0]["uid"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/minuta.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert all(target["datasource"]["uid"] == uid for target in panel["targets"])
    used = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    assert used >= REQUIRED_ON_DASHBOARD, REQUIRED_ON_DASHBOARD - used


def exposed_names(text: str) -> set[str]:
    """Every sample name a scrape can carry, also for families that have no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def scrape_api(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    settings = make_settings("sqlite-local", request, tmp_path)

    async def main() -> tuple[str, Any]:
        broker = MemoryBroker(BrokerSettings(broker_url=None))
        async with open_stack(settings, broker=broker) as stack:
            answer = await stack.client.get("/metrics")
            assert answer.status_code == 200
            return answer.text, await broker.queue_depths()

    return asyncio.run(main())


def scrape_worker() -> str:
    server = HealthServer(new_health_state(), WorkerMetrics(), "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        return urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        server.stop()


def test_every_metric_in_dashboards_and_alerts_exists_in_a_real_scrape(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    api_text, depths = scrape_api(request, tmp_path)
    exposed = exposed_names(api_text) | exposed_names(scrape_worker())
    assert set(depths) == set(QUEUE_DEPTH_LABELS)
    for label in QUEUE_DEPTH_LABELS:
        assert f'minuta_queue_depth{{queue="{label}"}} 0.0' in api_text
    wanted = {
        name
        for expr in dashboard_expressions() + alert_expressions()
        for name in METRIC.findall(expr)
    }
    missing = wanted - exposed - PROMETHEUS_OWN
    assert not missing, f"named in dashboards/alerts but exported by nobody: {sorted(missing)}"
    # And the names the issue fixes are all there.
    assert {
        "minuta_http_requests_total",
        "minuta_http_request_duration_seconds_bucket",
        "minuta_queue_depth",
        "minuta_meetings",
        "minuta_job_failures_total",
        "minuta_webhook_deliveries_total",
        "minuta_dead_letters_total",
        "minuta_worker_realtime_factor_bucket",
        "minuta_worker_stage_duration_seconds_bucket",
    } <= exposed
