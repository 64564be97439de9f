"""An in-process worker for the vector tests: no model preloading, vectors in the given store."""

from __future__ import annotations

from pathlib import Path

from core.messaging.memory import MemoryBroker
from ml_controller.pipeline import MeetingPipeline
from ml_controller.vectors import VectorStore
from ml_controller.worker.runner import Worker
from ml_controller.worker.settings import WorkerSettings
from ml_controller.worker.vectors import MeetingVectors


def vector_worker(
    broker: MemoryBroker, tmp_path: Path, pipeline: MeetingPipeline, store: VectorStore
) -> Worker:
    return Worker(
        broker,
        WorkerSettings(
            worker_state_dir=tmp_path / "state",
            worker_temp_dir=tmp_path,
            worker_preload_models=False,
            # The store is given: the worker does not open its own from settings.
            worker_vectors=False,
        ),
        pipeline=pipeline,
        vectors=MeetingVectors(store),
    )
