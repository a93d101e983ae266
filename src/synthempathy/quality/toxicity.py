"""Toxicity scoring for the filter stage.

Two scorers, chosen by ``filter.toxicity.scorer`` in params.yaml:

* ``profanity_check`` (default): alt-profanity-check's shipped scikit-learn model,
  one label, ``offensive``. Works offline, no torch.
* ``detoxify``: the real :class:`detoxify.Detoxify` class. Without a local checkpoint
  detoxify downloads one from GitHub, and it fetches the HF config/tokenizer from
  the Hub; offline, point ``checkpoint`` and ``huggingface_config_path`` at local
  files (see :func:`export_offline_detoxify`, run once on a machine with internet).

Nothing is loaded at import time; a failure to load raises :class:`ToxicityError`
and never falls back to another scorer.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from synthempathy.core.errors import UserError
from synthempathy.core.params import DETOXIFY_LABELS, PROFANITY_LABELS, ToxicityParams
from synthempathy.core.records import Reject

__all__ = [
    "DETOXIFY_LABELS",
    "PROFANITY_LABELS",
    "DetoxifyScorer",
    "ProfanityCheckScorer",
    "ToxicityError",
    "ToxicityParams",
    "ToxicityScorer",
    "export_offline_detoxify",
    "flag_toxic",
    "make_scorer",
    "write_hf_config_dir",
]

class ToxicityError(UserError):
    """Toxicity scorer could not be built or used; the message says how to fix it."""


class ToxicityScorer(ABC):
    """Scores texts in batches; one ``{label: score in [0, 1]}`` dict per text."""

    name: str
    labels: tuple[str, ...]

    def __init__(self, batch_size: int = 32, progress: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.progress = progress

    def score(self, texts: Sequence[str], *, progress: bool | None = None) -> list[dict[str, float]]:
        if isinstance(texts, str):
            raise TypeError("score() takes a sequence of texts, not a single str")
        texts = list(texts)
        show = self.progress if progress is None else progress
        out: list[dict[str, float]] = []
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), desc=f"toxicity ({self.name})", unit="text", disable=not show) as bar:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                scored = self._score_batch(batch)
                if len(scored) != len(batch):  # pragma: no cover - defensive
                    raise ToxicityError(f"{self.name} returned {len(scored)} scores for {len(batch)} texts")
                out.extend(scored)
                bar.update(len(batch))
        return out

    @abstractmethod
    def _score_batch(self, texts: list[str]) -> list[dict[str, float]]: ...


class ProfanityCheckScorer(ToxicityScorer):
    name = "profanity_check"
    labels = PROFANITY_LABELS

    def _score_batch(self, texts: list[str]) -> list[dict[str, float]]:
        # Imported here: importing profanity_check loads its joblib model.
        from profanity_check import predict_prob

        return [{"offensive": float(p)} for p in predict_prob(texts)]


# detoxify's loader is a module global; swapping it is serialised across threads.
_DETOXIFY_LOAD_LOCK = threading.Lock()


class DetoxifyScorer(ToxicityScorer):
    """Wraps :class:`detoxify.Detoxify`; labels come from the loaded checkpoint."""

    name = "detoxify"

    def __init__(
        self,
        model: str = "original",
        checkpoint: str | None = None,
        huggingface_config_path: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        progress: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, progress=progress)
        self.model = model
        self.checkpoint = checkpoint
        self.huggingface_config_path = huggingface_config_path
        self.device = device
        self._detox: Any = None

    @property
    def labels(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.load().class_names)

    def load(self) -> Any:
        """Load the detoxify model once (no fallback); returns the Detoxify object."""
        if self._detox is None:
            self._detox = self._load()
        return self._detox

    def _load(self) -> Any:
        fix = (
            "on a machine with internet run `synthempathy export-detoxify --model "
            f"{self.model} --out models/detoxify`, copy that folder here and set "
            "filter.toxicity.checkpoint and filter.toxicity.huggingface_config_path to the paths it prints"
        )
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise ToxicityError(f"detoxify checkpoint not found: {self.checkpoint} ({fix})")
        hf = self.huggingface_config_path
        if hf is not None and not (Path(hf) / "config.json").is_file():
            raise ToxicityError(
                f"huggingface_config_path has no config.json: {hf} (it must hold the HF config and "
                f"tokenizer files for the checkpoint; {fix})"
            )

        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise ToxicityError(
                "filter.toxicity.device is 'cuda' but torch sees no CUDA device; set device: cpu"
            )

        import detoxify
        import detoxify.detoxify as dd

        if self.checkpoint is None:
            url = dd.MODEL_URLS[self.model]
            cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
            if not cached.is_file() and _offline_requested():
                raise ToxicityError(
                    f"detoxify model {self.model!r} needs a download from {url} but offline mode is set "
                    f"(HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE); {fix}"
                )

        with _DETOXIFY_LOAD_LOCK:
            original = dd.get_model_and_tokenizer
            if hf is not None:
                dd.get_model_and_tokenizer = _local_config_loader(original)
            try:
                return detoxify.Detoxify(
                    model_type=self.model,
                    checkpoint=self.checkpoint,
                    device=self.device,
                    huggingface_config_path=hf,
                )
            except ToxicityError:
                raise
            except Exception as exc:  # noqa: BLE001 - any load failure becomes one actionable line
                what = (
                    f"checkpoint {self.checkpoint}" if self.checkpoint else f"model {self.model!r} (needs download)"
                )
                detail = " ".join(str(exc).split())[:300]
                if self.checkpoint is not None and hf is None:
                    fix = (
                        "set filter.toxicity.huggingface_config_path to a local dir with the HF config and "
                        "tokenizer for this checkpoint (see `synthempathy export-detoxify`)"
                    )
                raise ToxicityError(
                    f"detoxify could not load {what}: {type(exc).__name__}: {detail}; {fix}"
                ) from exc
            finally:
                dd.get_model_and_tokenizer = original

    def _score_batch(self, texts: list[str]) -> list[dict[str, float]]:
        detox = self.load()
        result = detox.predict(texts)
        columns: dict[str, list[float]] = {}
        for label, values in result.items():
            # Detoxify.predict squeezes the batch dim: a batch of one gives floats, not lists.
            columns[label] = [float(v) for v in (values if isinstance(values, list) else [values])]
        return [{label: columns[label][i] for label in columns} for i in range(len(texts))]


def _offline_requested() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "on", "yes", "true"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _local_config_loader(original: Any) -> Any:
    """Wrap ``detoxify.detoxify.get_model_and_tokenizer`` for offline loading.

    detoxify (0.5.x) always calls ``<Config>.from_pretrained(model_type)`` first, where
    ``model_type`` is a Hub id from the checkpoint (e.g. ``bert-base-uncased``), even when
    ``huggingface_config_path`` is given, and then throws that config away and uses
    ``huggingface_config_path`` for the model and tokenizer. Offline that first call
    retries the Hub for ~20 s and fails. Substituting the local dir for ``model_type``
    gives the same model with no network. (Setting HF_HUB_OFFLINE inside the load would
    not help: huggingface_hub reads it once at import, and it would still fail on a cache miss.)
    We also check that the local config's num_labels matches the checkpoint head,
    so a wrong config dir fails with a clear message.
    """

    def loader(*args: Any, **kwargs: Any) -> Any:
        hf = kwargs.get("huggingface_config_path")
        if hf is not None and not args:
            import transformers

            name = kwargs.get("model_name")
            model_class = getattr(transformers, str(name), None)
            if model_class is None:
                raise ToxicityError(f"checkpoint names model class {name!r}, which transformers does not have")
            n_cfg = model_class.config_class.from_pretrained(hf).num_labels
            if kwargs.get("num_classes") is not None and n_cfg != kwargs["num_classes"]:
                raise ToxicityError(
                    f"{hf}/config.json has num_labels={n_cfg} but the checkpoint head has "
                    f"{kwargs['num_classes']} classes; rebuild that dir with "
                    "synthempathy.quality.toxicity.write_hf_config_dir(checkpoint, dir)"
                )
            kwargs["model_type"] = hf
        return original(*args, **kwargs)

    return loader


def _load_checkpoint_config(checkpoint: str | Path) -> dict[str, Any]:
    import torch

    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(loaded, dict) or "config" not in loaded:
        raise ToxicityError(f"{checkpoint} is not a detoxify checkpoint (no 'config' entry)")
    return loaded["config"]


def write_hf_config_dir(checkpoint: str | Path, out_dir: str | Path, source: str | None = None) -> Path:
    """Save the HF config (with the checkpoint's num_labels) and tokenizer to ``out_dir``.

    ``source`` defaults to the checkpoint's ``config.arch.args.model_type`` (a Hub id, so
    this needs internet or the HF cache); pass a local dir to build it offline.
    """
    import transformers

    args = _load_checkpoint_config(checkpoint)["arch"]["args"]
    src = source or args["model_type"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_class = getattr(transformers, args["model_name"])
    model_class.config_class.from_pretrained(src, num_labels=args["num_classes"]).save_pretrained(out)
    getattr(transformers, args["tokenizer_name"]).from_pretrained(src).save_pretrained(out)
    return out


def export_offline_detoxify(model: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Download a released detoxify checkpoint and its HF config/tokenizer (needs internet)."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    if model not in MODEL_URLS:
        raise ToxicityError(f"unknown detoxify model {model!r}; choose one of {', '.join(MODEL_URLS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / Path(MODEL_URLS[model]).name
    if not ckpt.is_file():
        torch.hub.download_url_to_file(MODEL_URLS[model], str(ckpt))
    return ckpt, write_hf_config_dir(ckpt, out / f"{model}-hf")


def make_scorer(params: ToxicityParams, *, progress: bool = False) -> ToxicityScorer:
    """Build (and, for detoxify, load) the configured scorer; raises ToxicityError."""
    if params.scorer == "profanity_check":
        return ProfanityCheckScorer(batch_size=params.batch_size, progress=progress)
    scorer = DetoxifyScorer(
        model=params.model,
        checkpoint=params.checkpoint,
        huggingface_config_path=params.huggingface_config_path,
        device=params.device,
        batch_size=params.batch_size,
        progress=progress,
    )
    labels = scorer.labels  # loads now: fail before the stage does any work
    unknown = [label for label in params.thresholds if label not in labels]
    if unknown:
        raise ToxicityError(
            f"filter.toxicity.thresholds: unknown label(s) {', '.join(map(repr, unknown))} for detoxify "
            f"checkpoint {params.checkpoint or params.model}; it outputs: {', '.join(labels)}"
        )
    return scorer


def flag_toxic(scores: dict[str, float], thresholds: dict[str, float]) -> tuple[str, float] | None:
    """Return ``(label, score)`` of the highest-scoring label at/over its threshold, else None."""
    hits = []
    for label, threshold in thresholds.items():
        if label not in scores:
            raise ToxicityError(f"threshold label {label!r} missing from scores (has: {', '.join(scores)})")
        if scores[label] >= threshold:
            hits.append((label, scores[label]))
    if not hits:
        return None
    return min(hits, key=lambda hit: (-hit[1], hit[0]))  # highest score; ties by label name


def still_toxic(records: Sequence[Sequence[str]], params: ToxicityParams) -> dict[str, float]:
    """Share of records (each a few texts: a pair's explanation and response) the scorer flags
    in any text, and the highest score of any label it checks: toxicity left after the filter."""
    if not records:
        return {"flagged_rate": 0.0, "max_score": 0.0}
    scorer = make_scorer(params)
    flagged, highest = set(), 0.0
    for field in range(len(records[0])):
        for i, scores in enumerate(scorer.score([texts[field] for texts in records])):
            highest = max(highest, *(scores[label] for label in params.thresholds))
            if flag_toxic(scores, params.thresholds):
                flagged.add(i)
    return {"flagged_rate": round(len(flagged) / len(records), 4), "max_score": round(highest, 4)}


def drop_toxic(records: Sequence[BaseModel], fields: Sequence[str], params: ToxicityParams,
               stage: str) -> tuple[list, list[Reject]]:
    """Score every field of every record in batches; drop records with any label over threshold."""
    if not params.enabled or not records:
        return list(records), []
    scorer = make_scorer(params, progress=True)
    scores = scorer.score([getattr(r, f) for r in records for f in fields])
    kept, dropped = [], []
    for i, record in enumerate(records):
        hits = [(f, flag_toxic(scores[i * len(fields) + j], params.thresholds)) for j, f in enumerate(fields)]
        hits = [(f, hit) for f, hit in hits if hit]
        if not hits:
            kept.append(record)
            continue
        field, (label, score) = max(hits, key=lambda h: h[1][1])
        dropped.append(Reject(id=record.id, stage=stage, reason="toxic", detail=f"{field}: {label}",
                              score=round(score, 4), record=record.model_dump(mode="json")))
    return kept, dropped
