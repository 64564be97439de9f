"""The ML side's section of the settings (core/settings.py), read from `MINUTA_*` environment
variables or `.env`. The cache folder is the shared cache section's (MINUTA_CACHE_DIR)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from core.settings import CacheSettings, Section


class MLSettings(Section):
    # The process's cache section (the vector store shares it); read afresh when not given.
    cache: CacheSettings = Field(default_factory=CacheSettings)
    threads: int = 2

    # ASR: a size name of a packaged model ("base"), or a CTranslate2 model directory
    # (e.g. a local large-v3 / turbo conversion on a GPU box).
    asr_model: str = "base"
    asr_device: Literal["cpu", "cuda", "auto"] = "cpu"
    asr_compute_type: str = "int8"
    asr_beam_size: int = 5
    # Seeds Whisper's temperature-fallback sampling and the LLM's sampling: the same file gives
    # the same transcript and minutes on the same machine.
    seed: int = 0
    # Audio is transcribed in blocks cut at silences so memory does not grow with length.
    asr_block_seconds: float = 600.0

    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500

    diarization_backend: Literal["cpu", "pyannote"] = "cpu"
    pyannote_pipeline_dir: Path | None = None
    pyannote_device: str = "cpu"
    # CPU diarizer; unset means the tuned defaults of diarization.cpu.CpuDiarizationParams.
    diarization_step_seconds: float | None = None
    diarization_threshold: float | None = None
    diarization_min_speaker_seconds: float | None = None
    # Speaker embedder of the CPU diarizer: CAM++ (ONNX, exported once into the cache) or the
    # former GE2E (needs the optional `ge2e` extra; its voiceprints are never compared with
    # CAM++ ones).
    diarization_embedder: Literal["campplus", "ge2e"] = "campplus"
    # Upper bound of the automatic speaker count when the request gives none.
    diarization_max_speakers: int = 8

    # A sentence-transformers directory; unset means the packaged multilingual-e5-small.
    text_embedding_model: Path | None = None
    # Topic segmentation; unset means the tuned defaults of topics.segmenter.TopicParams.
    topic_window: int | None = None
    topic_smoothing: int | None = None
    topic_depth_threshold: float | None = None
    topic_min_seconds: float | None = None
    topic_min_units: int | None = None

    llm_engine: Literal["llamacpp", "openai", "transformers", "none"] = "llamacpp"
    llm_model_path: Path | None = None
    llm_context: int = 8192
    llm_max_tokens: int = 1024
    llm_base_url: str | None = None
    llm_model_name: str = "minuta-minutes"
    llm_api_key: str = "none"
    llm_timeout: float = 600.0
    llm_max_retries: int = 3
    llm_concurrency: int = 4
    llm_temperature: float = 0.1
    # llama.cpp threads; unset means `threads`. On a CPU shared with other busy processes, fewer
    # threads than free cores avoids llama.cpp's spin barriers stalling on descheduled threads.
    llm_threads: int | None = None
    # A LoRA adapter in GGUF form for the in-process llama.cpp engine (the same adapter that
    # vLLM serves, converted with llama.cpp's convert_lora_to_gguf.py).
    llm_lora_path: Path | None = None
    llm_lora_scale: float = 1.0
    # Task → served model name on the OpenAI-compatible server (vLLM serves each LoRA adapter
    # under its own name, `--lora-modules name=path`); a task not listed uses llm_model_name.
    llm_task_models: dict[str, str] = Field(default_factory=dict)
    # One call per task instead of one call for all the minutes: "summary" (title, summary),
    # "topics", "action-items" (with decisions), each to its model in llm_task_models. For
    # adapters trained per task; one call is faster where every task uses the same model.
    llm_split_tasks: bool = False
    # How the schema is sent: "json_schema" (OpenAI / vLLM response_format), "json_object"
    # (llama-cpp-python's server: response_format with a "schema" key), "structured_outputs"
    # (vLLM's own field), or "auto": json_schema first, json_object if the server rejects it.
    llm_structured_output: Literal["auto", "json_schema", "json_object", "structured_outputs"] = (
        "auto"
    )
    llm_connect_timeout: float = 10.0
    llm_retry_base_delay: float = 1.0
    # transformers engine (evaluates a training run's adapter): a local transformers checkpoint,
    # and optionally a peft LoRA adapter directory (the format vLLM serves with --lora-modules).
    llm_base_model_dir: Path | None = None
    llm_adapter_dir: Path | None = None
    # Merging the adapter into the base weights makes decoding as fast as the base model.
    llm_merge_adapter: bool = True
    llm_device: str = "cpu"
    llm_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # Answer budget of one map or reduce call when a long meeting is summarized in parts.
    llm_map_max_tokens: int = 512
    # Fewer words than this make empty minutes without asking the LLM: from "Hello? Can you hear
    # me?" a model can only invent a meeting.
    llm_min_words: int = 25

    max_input_bytes: int = 4 * 1024**3
    max_duration_hours: float = 12.0

    # Hostile input (audio.decode.DecodeLimits): refused before decoding, with a clear message.
    max_audio_channels: int = Field(default=64, ge=1)
    min_sample_rate: int = Field(default=4_000, ge=1)
    max_sample_rate: int = Field(default=384_000, ge=1)
    # Wall time of decoding one file; 0 turns the budget off.
    max_decode_seconds: float = Field(default=1800.0, ge=0)

    @property
    def cache_dir(self) -> Path:
        """Where the models are assembled (MINUTA_CACHE_DIR)."""
        return self.cache.cache_dir


@lru_cache(maxsize=1)
def get_settings() -> MLSettings:
    return MLSettings()
