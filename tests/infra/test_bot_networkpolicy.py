"""infra/kubernetes/bot-networkpolicy.yaml agrees with the bot pods and with the egress policy."""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path
from typing import Any

import yaml

from services.bots.contracts import BotSpec
from services.bots.controller.backends.kubernetes_job import KubernetesJobBackend
from services.bots.controller.settings import ControllerSettings
from services.egress import classify

POLICY = Path(__file__).resolve().parents[2] / "infra" / "kubernetes" / "bot-networkpolicy.yaml"


def _policy() -> dict[str, Any]:
    return dict(yaml.safe_load(POLICY.read_text()))


def test_it_selects_the_pods_the_backend_makes() -> None:
    settings = ControllerSettings(_env_file=None, bot_k8s_api_url="http://k8s.invalid")  # type: ignore[call-arg]
    backend = KubernetesJobBackend(settings)
    spec = BotSpec(bot_id=uuid.uuid4(), meeting_url="https://m", api_url="http://a", bot_token="t")
    job = backend._job(spec, "minuta-bot-x")
    labels = job.spec.template.metadata.labels
    selector = _policy()["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_nothing_comes_in_and_only_public_addresses_go_out() -> None:
    spec = _policy()["spec"]
    assert spec["ingress"] == [] and set(spec["policyTypes"]) == {"Ingress", "Egress"}
    blocks = [to["ipBlock"] for rule in spec["egress"] for to in rule["to"] if "ipBlock" in to]
    assert {b["cidr"] for b in blocks} == {"0.0.0.0/0", "::/0"}
    excepted = [ipaddress.ip_network(c) for b in blocks for c in b["except"]]
    # Every excepted range is one the egress policy refuses, and every inward address the
    # policy refuses that a bot could be lured to is excepted.
    assert all(classify(net[0]) is not None for net in excepted)
    for inward in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "2002:a00:1::",
    ):
        address = ipaddress.ip_address(inward)
        assert any(address in net for net in excepted if net.version == address.version), inward
    for public in ("8.8.8.8", "2606:4700:4700::1111"):
        address = ipaddress.ip_address(public)
        assert not any(address in net for net in excepted if net.version == address.version)
