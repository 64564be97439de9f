"""The meeting pipeline: decode → speech detection → ASR → speakers → topics → minutes.

Models load lazily and stay loaded, so one `MeetingPipeline` serves many recordings (the worker
keeps one per process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from core.contracts import SpeakerHints
from core.results import AudioInfo, MeetingResult, Minutes, Segment, Speaker, Topic
from ml_controller.align import assign_speakers, build_lines, renumber_speakers
from ml_controller.asr.whisper import check_language
from ml_controller.audio.decode import decode_audio, limits_from
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.progress import NullProgress, ProgressSink, reporter
from ml_controller.settings import MLSettings, get_settings
from ml_controller.types import Diarization, PipelineOutput, Voiceprints

if TYPE_CHECKING:
    from ml_controller.asr.whisper import WhisperTranscriber
    from ml_controller.diarization.base import Diarizer
    from ml_controller.llm.base import LLMEngine
    from ml_controller.text_embedding import TextEmbedder

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessOptions:
    language: str | None = None
    speakers: SpeakerHints = field(default_factory=SpeakerHints)
    minutes_language: str | None = None
    with_minutes: bool = True


class MeetingPipeline:
    def __init__(self, settings: MLSettings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def transcriber(self) -> WhisperTranscriber:
        from ml_controller.asr.whisper import WhisperTranscriber

        return WhisperTranscriber(self.settings)

    @cached_property
    def diarizer(self) -> Diarizer:
        from ml_controller.diarization.factory import make_diarizer

        return make_diarizer(self.settings)

    @cached_property
    def embedder(self) -> TextEmbedder:
        from ml_controller.text_embedding import TextEmbedder

        return TextEmbedder.from_settings(self.settings)

    @cached_property
    def llm(self) -> LLMEngine | None:
        from ml_controller.llm.factory import make_engine

        return make_engine(self.settings)

    def process(
        self,
        path: Path | str,
        options: ProcessOptions | None = None,
        progress: ProgressSink | None = None,
    ) -> MeetingResult:
        """The recording's result, what `minuta process` writes (its voiceprints are dropped)."""
        return self.process_with_voices(path, options, progress).result

    def process_with_voices(
        self,
        path: Path | str,
        options: ProcessOptions | None = None,
        progress: ProgressSink | None = None,
    ) -> PipelineOutput:
        """The recording's result, and its speakers' voiceprints apart from it (for the worker,
        which keeps them in the vector store)."""
        options = options or ProcessOptions()
        sink = progress or NullProgress()
        language = check_language(options.language)
        timings: dict[str, float] = {}

        @contextmanager
        def stage(name: str, total: float | None) -> Iterator[Callable[[float], None]]:
            sink.begin(name, total)
            began = time.perf_counter()
            yield reporter(sink, name)
            timings[name] = round(time.perf_counter() - began, 3)
            sink.end(name, timings[name])

        with stage("decode", None) as tick:
            audio = decode_audio(path, limits=limits_from(self.settings), on_progress=tick)
        with audio:
            vad = vad_options(self.settings.vad_threshold, self.settings.vad_min_silence_ms)
            with stage("speech detection", audio.duration) as tick:
                speech = detect_speech(audio, vad, on_progress=tick)
            blocks = plan_blocks(speech, self.settings.asr_block_seconds)
            with stage("transcription", sum(b - a for a, b in blocks)) as tick:
                if blocks:
                    transcription = self.transcriber.transcribe(
                        audio, blocks, vad, language=language, on_progress=tick
                    )
                    segments_asr = transcription.segments
                    language = transcription.language
                    language_probability: float | None = transcription.language_probability
                else:
                    segments_asr, language_probability = [], None
            with stage("speakers", audio.duration):
                if segments_asr:
                    diarization = self.diarizer.diarize(audio.samples, speech, options.speakers)
                else:
                    diarization = Diarization(turns=[], speakers=[])
                words = assign_speakers(segments_asr, diarization)
                lines = build_lines(words, diarization=diarization)
                raw_labels = [line.speaker for line in lines]
                lines, speakers = renumber_speakers(lines)
                voiceprints = _voiceprints(raw_labels, lines, diarization)
            duration = audio.duration
        with stage("topics", float(len(lines))):
            topics = self._topics(lines)
        meeting_language = language or "en"
        with stage("minutes", None):
            minutes = self._minutes(
                lines,
                topics,
                speakers,
                options.minutes_language or meeting_language,
                duration,
                options.with_minutes,
            )
        topics = _titled(topics, minutes)
        result = MeetingResult(
            audio=AudioInfo(
                duration=round(duration, 3),
                language=meeting_language,
                language_probability=language_probability,
                source=Path(path).name,
            ),
            speakers=speakers,
            segments=lines,
            topics=topics,
            minutes=minutes,
            timings=timings,
            speaker_embedding_schema=voiceprints.embedding_schema,
        )
        return PipelineOutput(result=result, voiceprints=voiceprints)

    def _topics(self, lines: list[Segment]) -> list[Topic]:
        if not lines:
            return []
        from ml_controller.topics.segmenter import segment_topics, topic_params

        return segment_topics(lines, self.embedder, topic_params(self.settings))

    def _minutes(
        self,
        lines: list[Segment],
        topics: list[Topic],
        speakers: list[Speaker],
        language: str,
        duration: float,
        enabled: bool,
    ) -> Minutes:
        engine = self.llm if enabled else None
        if engine is None or not lines:
            return Minutes.empty(language)
        from ml_controller.minutes.writer import write_minutes

        outcome = write_minutes(lines, topics, speakers, language, duration, engine, self.settings)
        return outcome.minutes


def _voiceprints(
    raw_labels: list[str], lines: list[Segment], diarization: Diarization
) -> Voiceprints:
    """The diarization's voice embeddings under the transcript's renumbered speaker labels."""
    renamed = {raw: line.speaker for raw, line in zip(raw_labels, lines, strict=True)}
    vectors = {
        renamed[raw]: vector for raw, vector in diarization.embeddings.items() if raw in renamed
    }
    return Voiceprints(
        embedding_schema=diarization.embedding_schema if vectors else None, vectors=vectors
    )


def _titled(topics: list[Topic], minutes: Minutes) -> list[Topic]:
    """Give each topic segment the LLM's title and summary for the same span, where it has one."""
    if not minutes.topics:
        return topics
    titled: list[Topic] = []
    for topic in topics:
        best = max(
            minutes.topics,
            key=lambda m: min(m.end, topic.end) - max(m.start, topic.start),
        )
        if min(best.end, topic.end) - max(best.start, topic.start) > 0:
            topic = topic.model_copy(update={"title": best.title, "summary": best.summary})
        titled.append(topic)
    return titled
