"""Bots as Kubernetes Jobs: one Job per bot, its spec in a Secret mounted read-only.

The Secret is owned by the Job, so Kubernetes deletes it with the Job (on `stop`, or by
ttlSecondsAfterFinished when the API never got to it).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from services.bots.contracts import BotSpec
from services.bots.controller.backends.base import BackendError, RunnerHandle
from services.bots.controller.settings import ControllerSettings

NAME = "kubernetes"
SPEC_DIR = "/etc/minuta-bot"
SPEC_FILE = "spec.json"


def api_client(settings: ControllerSettings) -> k8s.ApiClient:
    if settings.bot_k8s_api_url:
        configuration = k8s.Configuration()
        configuration.host = settings.bot_k8s_api_url
        configuration.verify_ssl = settings.bot_k8s_verify_tls
        if settings.bot_k8s_token is not None:
            configuration.api_key = {"authorization": settings.bot_k8s_token.get_secret_value()}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        return k8s.ApiClient(configuration)
    from kubernetes import config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return k8s.ApiClient()


def job_name(spec: BotSpec) -> str:
    return f"minuta-bot-{spec.bot_id}"


class KubernetesJobBackend:
    name = NAME

    def __init__(self, settings: ControllerSettings, client: k8s.ApiClient | None = None) -> None:
        self.settings = settings
        self._client = client or api_client(settings)
        self._batch = k8s.BatchV1Api(self._client)
        self._core = k8s.CoreV1Api(self._client)

    @property
    def namespace(self) -> str:
        return self.settings.bot_k8s_namespace

    def _job(self, spec: BotSpec, name: str) -> k8s.V1Job:
        s = self.settings
        container = k8s.V1Container(
            name="bot",
            image=s.bot_k8s_image,
            args=["--spec-file", f"{SPEC_DIR}/{SPEC_FILE}"],
            resources=k8s.V1ResourceRequirements(
                requests={"cpu": s.bot_k8s_cpu, "memory": s.bot_k8s_memory},
                limits={"memory": s.bot_k8s_memory},
            ),
            volume_mounts=[k8s.V1VolumeMount(name="spec", mount_path=SPEC_DIR, read_only=True)],
            # Chromium keeps its sandbox (it is off only for root): an unprivileged user that
            # cannot gain privileges, with no capabilities; HOME is writable for its profile.
            env=[k8s.V1EnvVar(name="HOME", value="/tmp")],
            security_context=k8s.V1SecurityContext(
                run_as_non_root=True,
                run_as_user=s.bot_k8s_run_as_user,
                allow_privilege_escalation=False,
                capabilities=k8s.V1Capabilities(drop=["ALL"]),
            ),
        )
        pod = k8s.V1PodSpec(
            restart_policy="Never",
            containers=[container],
            # The bot needs no Kubernetes API access (infra/kubernetes/bot-networkpolicy.yaml
            # bounds its network).
            automount_service_account_token=False,
            volumes=[
                k8s.V1Volume(
                    name="spec",
                    secret=k8s.V1SecretVolumeSource(secret_name=name, default_mode=0o400),
                )
            ],
        )
        labels = {"app.kubernetes.io/name": "minuta-bot", "minuta/bot-id": str(spec.bot_id)}
        return k8s.V1Job(
            metadata=k8s.V1ObjectMeta(name=name, labels=labels),
            spec=k8s.V1JobSpec(
                # A bot that crashed must not rejoin the meeting on its own: no retries.
                backoff_limit=0,
                ttl_seconds_after_finished=s.bot_k8s_ttl_seconds,
                # Past this even a stuck bot is stopped by Kubernetes itself.
                active_deadline_seconds=int(
                    spec.max_duration + spec.admission_timeout + spec.alone_timeout + 600
                ),
                template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=pod),
            ),
        )

    def launch(self, spec: BotSpec) -> RunnerHandle:
        name = job_name(spec)
        try:
            job = self._batch.create_namespaced_job(self.namespace, self._job(spec, name))
            owner = k8s.V1OwnerReference(
                api_version="batch/v1", kind="Job", name=name, uid=job.metadata.uid
            )
            secret = k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name=name, owner_references=[owner]),
                string_data={SPEC_FILE: spec.model_dump_json()},
            )
            self._core.create_namespaced_secret(self.namespace, secret)
        except ApiException as exc:
            raise BackendError(
                f"Kubernetes refused the bot's Job: {exc.status} {exc.reason}"
            ) from exc
        return RunnerHandle(NAME, f"{self.namespace}/{name}")

    def _parse(self, handle: RunnerHandle) -> tuple[str, str]:
        namespace, _, name = handle.ref.partition("/")
        if not namespace or not name:
            raise BackendError(f"not a Kubernetes runner handle: {handle.ref!r}")
        return namespace, name

    def is_alive(self, handle: RunnerHandle) -> bool:
        namespace, name = self._parse(handle)
        try:
            job = self._batch.read_namespaced_job_status(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise BackendError(f"cannot read Job {name}: {exc.status} {exc.reason}") from exc
        status: Any = job.status
        if status is None:
            return True
        if (status.succeeded or 0) > 0 or (status.failed or 0) > 0:
            return False
        ended = {"Complete", "Failed"}
        return not any(c.type in ended and c.status == "True" for c in status.conditions or [])

    def stop(self, handle: RunnerHandle) -> None:
        namespace, name = self._parse(handle)
        for delete in (
            lambda: self._batch.delete_namespaced_job(
                name, namespace, propagation_policy="Background"
            ),
            lambda: self._core.delete_namespaced_secret(name, namespace),
        ):
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    raise BackendError(f"cannot delete {name}: {exc.status} {exc.reason}") from exc
