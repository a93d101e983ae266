"""Record types that flow between stages, one JSON object per JSONL line.

Each stage adds fields to the record it received, so a pair still carries the
seed situation and story it grew from. `id` is fixed at brainstorm time from
the lineage (seed id + story index) and never changes after, which is what lets
later stages, the rejects file and the request cache refer to the same item.
`provenance` holds one entry per generating stage.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackendIdentity(Record):
    """Everything about a backend that can change its output for one request: the model
    file, how prompts are formatted and batched, and which code decodes them. Backends
    expose one (`Backend.identity`); the driver puts it, unchanged, into every request-cache
    key and every record's provenance, so a change here misses the cache instead of being
    served completions another implementation made."""

    model: str
    model_sha256: str
    """The GGUF's sha256, or `served:<name>` for a server whose weights we cannot hash."""
    format_setting: str
    """llm.prompt_format as configured (`auto` resolves per model: see Provenance.prompt_format)."""
    batch_rows: int | None = None
    """llm.batch_size when an output came from a fixed batch of that many rows (it depends
    on it); null when it was decoded on its own or by a server."""
    cpu_repack: bool = True
    """False when the model loaded without llama.cpp's repacked CPU weights (llm.cpu_repack):
    other matmul kernels, other outputs."""
    gpu_layers: int = 0
    """Layers offloaded to a GPU (0 on a CPU-only build whatever llm.n_gpu_layers says)."""
    implementation: str
    """The decoding code: our backend's name and revision plus the llama-cpp-python version
    (whose sampler chain and kernels we call), e.g. `llama_cpp r1, llama-cpp-python 0.3.36`."""
    adapter_sha256: str | None = None
    """sha256 of the LoRA adapter applied to the model (llm.lora_adapter), if any. Left out of the
    serialised identity when there is none, so identities, cache keys and outputs made without
    one are the same bytes as before the field existed."""

    @model_serializer(mode="wrap")
    def _without_absent_adapter(self, handler):
        data = handler(self)
        if data.get("adapter_sha256") is None:
            data.pop("adapter_sha256", None)
        return data


class Provenance(Record):
    """How one LLM output was made: enough to reproduce or audit it."""

    backend: BackendIdentity
    prompt: str
    prompt_sha256: str
    prompt_format: str
    """The format actually used ('completion' or 'chat')."""
    grammar_sha256: str | None = None
    sampling: dict[str, Any]
    seed: int
    attempts: int = Field(ge=1)
    finish_reason: str
    completion_tokens: int = Field(ge=0)


class Seed(Record):
    """A stressor situation: from a seed file in data/seeds/, or written by the seeds stage."""

    id: str
    category: str
    situation: str
    source: str | None = None
    """file:line it was read from, or `grown` when the seeds stage wrote it."""
    provenance: dict[str, Provenance] = Field(default_factory=dict)
    """For a grown seed: how the seeds stage made it (stories built on it inherit this)."""


class Story(Record):
    id: str
    seed_id: str
    category: str
    situation: str
    story: str
    provenance: dict[str, Provenance]


class Explanation(Story):
    explanation: str
    """First-person account by the person seeking support."""


class SafetyLabel(Record):
    """Why a pair was flagged as a crisis disclosure, and what its response does about it."""

    category: Literal["suicide_self_harm", "abuse_violence", "medical_emergency"]
    phrase: str
    """The explanation's words that raised the flag."""
    response_problems: list[str]
    """Of no_acknowledgement, no_referral, method_detail, minimising; empty: it complies."""


class Pair(Explanation):
    emotion: str | None = None
    """Chain-of-Empathy step 1: the emotion the speaker feels (None in the direct baseline)."""
    cause: str | None = None
    """Chain-of-Empathy step 2: why they feel it, e.g. the cognitive error behind it (None in the baseline)."""
    response: str
    safety: SafetyLabel | None = None
    """Set by the filter when the explanation discloses a crisis (filter.safety); null otherwise."""


EpitomeScore = Literal[0, 1, 2]
"""0 = no communication of the mechanism, 1 = weak, 2 = strong (Sharma et al., 2020)."""


class EpitomeScores(Record):
    """What the judge must output; its JSON schema becomes the llama.cpp grammar."""

    emotional_reaction: EpitomeScore
    interpretation: EpitomeScore
    exploration: EpitomeScore


class ClassifierProvenance(Record):
    """How a trained judge's judgement was made (judge.scorer: classifier or encoder)."""

    scorer: Literal["classifier", "encoder"] = "classifier"
    model: str
    model_sha256: str
    """sha256 of the trained judge's file."""
    training: dict[str, Any]
    """What it was trained with: its params, the split's dev_share and seed, dev pairs."""


class Judgement(EpitomeScores):
    """The judge's EPITOME scores for one corpus pair, joined to it by id."""

    id: str
    category: str
    provenance: Provenance | ClassifierProvenance


class EpitomeExample(EpitomeScores):
    """A human-labelled EPITOME Reddit pair (research-only data, never released): the scores are
    the annotators' levels. `id` is `<seeker post id>-<response id>`."""

    id: str
    seeker_id: str
    seeker_post: str
    response_post: str
    rationales: dict[str, str] = {}
    """Per mechanism, EPITOME's '|'-separated spans of the response that carry it (empty when none)."""


class LabelledPair(EpitomeScores):
    """A synthetic-style pair written and labelled for this project (tests/data/synthetic_epitome.jsonl):
    an explanation and response like the corpus's, with the levels a person gave them."""

    id: str
    category: str
    explanation: str
    response: str
    rationales: dict[str, str] = {}
    """Per mechanism, '|'-separated spans of the response that carry it, as in EPITOME (training pairs only)."""


class Reject(Record):
    """An item dropped by some stage, with the reason: nothing disappears silently."""

    id: str
    stage: str
    reason: str
    detail: str = ""
    score: float | None = None
    duplicate_of: str | None = None
    record: dict[str, Any] = Field(default_factory=dict)


class HeldOutPrompt(Record):
    """What the downstream pipeline's base and tuned models both answer: an explanation whose seed
    situation no training pair shares, or a seeker post from EPITOME's test split (research-only)."""

    id: str
    source: Literal["held_out", "epitome"]
    category: str
    """The stressor category, or `epitome` for a Reddit seeker post."""
    explanation: str


class ModelAnswer(HeldOutPrompt):
    """One model's answer to a held-out prompt (downstream generate stage)."""

    model: Literal["base", "tuned"]
    response: str
    provenance: Provenance


class AnswerScore(EpitomeScores):
    """A judge's EPITOME levels for one model's answer (downstream score stage)."""

    id: str
    source: Literal["held_out", "epitome"]
    model: Literal["base", "tuned"]
    response_words: int
    provenance: Provenance | ClassifierProvenance
