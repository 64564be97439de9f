"""The key path: the bot joins a real Janus meeting where two participants speak real English,
records it in the page, uploads it, and the product's pipeline transcribes the upload about as
well as it transcribes the source audio itself.

Two comparisons, both through the product's pipeline:
- whole files: the bot's recording against the participants' audio mixed into one file;
- turn by turn: each speaking turn cut from the recording (where its silent gaps are) against
  each source clip on its own. The pipeline sometimes drops whole turns of a long file with
  silent gaps (it does so on the source mix too), which the per-turn figure is immune to: it
  measures only what the bot's capture did to the audio.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np

from ml_controller.metrics import word_error_rate
from ml_controller.pipeline import MeetingPipeline, ProcessOptions
from services.bots.contracts import ParticipantTimeline
from testkit.meeting.bot import start_bot
from testkit.meeting.conversation import ASR_EN, TURNS, build_conversation, decode_pcm16
from testkit.meeting.meeting_server import MeetingServer
from testkit.meeting.participants import participants

MAX_WER_GAP = 0.05
RATE = 16000
FRAME = RATE // 20  # 50 ms
TURN_MARGIN = 0.3


def _transcript(pipeline: MeetingPipeline, path: Path) -> tuple[str, float]:
    result = pipeline.process(path, ProcessOptions(language="en", with_minutes=False))
    return " ".join(segment.text for segment in result.segments), result.audio.duration


def _turns(timeline: ParticipantTimeline) -> list[tuple[str, float, float]]:
    """Consecutive spans of one speaker merged into one turn."""
    turns: list[tuple[str, float, float]] = []
    for span in timeline.speaking:
        if turns and turns[-1][0] == span.name:
            turns[-1] = (span.name, turns[-1][1], span.end)
        else:
            turns.append((span.name, span.start, span.end))
    return turns


def _speech_regions(recording: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The recording's samples and its speaking turns (stretches of sound between silences)."""
    samples = decode_pcm16(recording, RATE)
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > 100)  # about -50 dBFS
    if len(loud) == 0:
        return samples, []
    # Split at the widest silent gaps, as many as there are turn changes: a 2.5 s gap between
    # turns that jitter or a noise burst under load narrowed still wins over the pauses inside
    # a sentence (a wrong cut shows in the per-turn WER below).
    gaps = np.diff(loud)
    widest = sorted(np.argsort(gaps)[::-1][: len(TURNS) - 1])
    starts = [int(loud[0]), *(int(loud[i + 1]) for i in widest)]
    ends = [*(int(loud[i]) for i in widest), int(loud[-1])]
    return samples, [(a * FRAME, (b + 1) * FRAME) for a, b in zip(starts, ends, strict=True)]


def _write_wav(samples: np.ndarray, out: Path) -> Path:
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(samples.tobytes())
    return out


def test_the_bot_records_a_janus_meeting_and_the_transcript_matches_the_source(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    conversation = build_conversation(tmp_path / "speech")
    meetings.room(room_id)
    run = start_bot(tmp_path / "bot", meetings.url(room_id), alone_timeout=60)
    try:
        run.wait_for("recording", 30)
        people = {"Alice": conversation.speaker_wavs["A"], "Bob": conversation.speaker_wavs["B"]}
        with participants(meetings.url(room_id), people):
            time.sleep(conversation.duration + 1.0)
            meetings.end(room_id)  # the host ends the meeting: the bot must notice and leave
            assert run.wait_exit(60) == 0, run.log()
        assert run.receiver.states() == ["joining", "recording", "uploading"]
        assert run.receiver.received.heartbeats >= 3
        recording = run.receiver.received.recording
        timeline = run.receiver.received.timeline
    finally:
        run.close()
    assert recording is not None and timeline is not None

    # Names and speaking turns come from the page's AudioBridge talking events.
    assert sorted(timeline.participants) == ["Alice", "Bob"]
    turns = _turns(timeline)
    assert [name for name, _, _ in turns] == ["Alice", "Bob"] * 3, timeline.speaking

    pipeline = MeetingPipeline()
    recorded_text, recorded_seconds = _transcript(pipeline, recording)
    source_text, _ = _transcript(pipeline, conversation.mix_wav)
    assert recorded_seconds >= conversation.duration - 1.0
    recorded_wer = word_error_rate([conversation.reference], [recorded_text])
    source_wer = word_error_rate([conversation.reference], [source_text])
    print(f"whole file WER: bot recording {recorded_wer:.3f}, source mix {source_wer:.3f}")
    assert recorded_wer <= source_wer + MAX_WER_GAP, (recorded_text, source_text)

    samples, regions = _speech_regions(recording)
    assert len(regions) == len(TURNS), regions
    margin = int(TURN_MARGIN * RATE)
    turn_texts, clip_texts = [], []
    for index, ((start, end), (_, clip)) in enumerate(zip(regions, TURNS, strict=True)):
        cut = _write_wav(samples[max(0, start - margin) : end + margin], tmp_path / f"t{index}.wav")
        turn_texts.append(_transcript(pipeline, cut)[0])
        clip_texts.append(_transcript(pipeline, ASR_EN / clip)[0])
    turn_wer = word_error_rate([conversation.reference], [" ".join(turn_texts)])
    clip_wer = word_error_rate([conversation.reference], [" ".join(clip_texts)])
    print(f"turn by turn WER: bot recording {turn_wer:.3f}, source clips {clip_wer:.3f}")
    assert turn_wer <= clip_wer + MAX_WER_GAP, (turn_texts, clip_texts)
