"""Pipeline outputs the worker keeps for a retry, including ones an older worker kept."""

from __future__ import annotations

import json

from core.results import AudioInfo, MeetingResult, Minutes, Speaker
from ml_controller.types import PipelineOutput, Voiceprints
from ml_controller.worker.runner import kept_output


def _result() -> MeetingResult:
    return MeetingResult(
        audio=AudioInfo(duration=3.0, language="en"),
        speakers=[Speaker(id="S1")],
        segments=[],
        topics=[],
        minutes=Minutes.empty("en"),
    )


def test_an_output_kept_by_this_version_reads_back_equal() -> None:
    output = PipelineOutput(
        result=_result(),
        voiceprints=Voiceprints(embedding_schema="campplus-192-v1", vectors={"S1": [1.0, 0.0]}),
    )
    assert kept_output(output.model_dump_json().encode()) == output


def test_a_result_kept_before_the_upgrade_gives_up_its_voiceprints_to_the_output() -> None:
    # What the previous worker kept: MeetingResult.model_dump_json() with the voiceprints in it.
    old = {
        **_result().model_dump(mode="json"),
        "voiceprints": {"S1": [0.0, 1.0]},
        "voiceprint_schema": "campplus-192-v1",
    }
    output = kept_output(json.dumps(old).encode())
    assert output.result == _result()
    assert output.voiceprints == Voiceprints(
        embedding_schema="campplus-192-v1", vectors={"S1": [0.0, 1.0]}
    )
