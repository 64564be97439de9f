"""Which failures are the recording's fault, which may pass, and which are ours.

bad_input is final (asking again gives the same answer); transient is retried with a delay and
then dead-lettered; internal is a bug or a broken installation: reported, dead-lettered, not
retried, so one bad release cannot spin every job through the queue.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import httpx

from core.contracts import FailureKind
from ml_controller.asr.whisper import UnknownLanguageError
from ml_controller.audio.decode import AudioInputError
from ml_controller.llm.base import LLMError
from ml_controller.worker.download import BadDownloadError, TransientDownloadError
from ml_controller.worker.vectors import VectorStepError

_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EAGAIN, errno.ENOMEM, errno.EMFILE}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or during (`from None` hides the cause
    from tracebacks, not from `__context__`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _llm_unreachable(exc: LLMError) -> bool:
    for link in _chain(exc):
        if isinstance(link, httpx.TransportError):
            return True
        response = getattr(link, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and (status == 429 or status >= 500):
            return True
    return False


def store_unreachable(exc: BaseException) -> bool:
    """The vector store could not be reached (refused, reset, timed out): waiting helps."""
    for link in _chain(exc):
        if isinstance(link, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        if type(link).__name__ == "ResponseHandlingException":  # qdrant-client's wrapper
            return True
    return False


def classify(exc: BaseException) -> FailureKind:
    if isinstance(exc, AudioInputError | UnknownLanguageError | BadDownloadError):
        return FailureKind.bad_input
    if isinstance(exc, TransientDownloadError | VectorStepError):
        # A vector store that is down (or restarting) comes back; the job runs again then.
        return FailureKind.transient
    if isinstance(exc, LLMError):
        return FailureKind.transient if _llm_unreachable(exc) else FailureKind.internal
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return FailureKind.transient
    return FailureKind.internal
