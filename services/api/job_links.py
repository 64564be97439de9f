"""Job links: what a job carries instead of a long-lived presigned URL.

A job may wait in the queue and in retries for a long time, so the link it carries must outlive
that wait; a presigned S3 URL that does is a day-long capability sitting in the broker. Instead a
job carries `<public base>/v1/jobs/<job id>/audio?expires=…&signature=…`: signed for that job
only, and answered only while the job's meeting is queued or processing. Each fetch (each
download attempt, each retry) is redirected to a freshly presigned URL that lives minutes
(`MINUTA_PRESIGN_TTL_SECONDS`). Workers follow redirects; they never see a credential.
"""

from __future__ import annotations

import time
import uuid

from services.api.settings import ApiSettings
from services.api.storage.signing import UrlSigner

JOB_AUDIO_ROUTE = "/v1/jobs/{job_id}/audio"


def _subject(job_id: uuid.UUID) -> str:
    return f"job/{job_id}/audio"


class JobLinks:
    def __init__(self, settings: ApiSettings, signer: UrlSigner) -> None:
        self.settings = settings
        self.signer = signer

    def url(self, job_id: uuid.UUID, now: float | None = None) -> str:
        expires = int(time.time() if now is None else now) + self.settings.job_link_ttl_seconds
        signature = self.signer.sign(_subject(job_id), expires)
        path = JOB_AUDIO_ROUTE.format(job_id=job_id)
        return (
            f"{self.settings.resolved_public_base_url}{path}"
            f"?expires={expires}&signature={signature}"
        )

    def verify(self, job_id: uuid.UUID, expires: int, signature: str) -> bool:
        return self.signer.verify(_subject(job_id), expires, signature)
