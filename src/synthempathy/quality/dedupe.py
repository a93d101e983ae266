"""Exact and near-duplicate detection for a whole corpus.

`find_duplicates` walks the texts in the order given (first wins) and drops

* exact duplicates: texts equal to an earlier one after `normalize`;
* near duplicates: texts whose rapidfuzz similarity (`NearDupParams.scorer`, on
  normalized text) to an earlier *kept* text is >= `NearDupParams.threshold`.

Scoring every pair is quadratic (hours at 10^5 texts), so candidate pairs come
from a MinHash / LSH blocking index and each candidate is then scored with the real
rapidfuzz scorer: nothing is dropped on the index's word alone, so precision is
exact and only recall depends on the index.

Blocking signature. A text's signature is the *set* of its words minus those
occurring more than `max_word_count` times in the corpus (a text with fewer than
`min_tokens` such words keeps its `min_tokens` rarest). Word order does not enter,
which matches `token_sort_ratio`: reordered sentences and swapped words leave the
signature unchanged, and leaving out the common words ("i", "you", "feel",
"sorry") keeps unrelated texts apart. Everything is vectorised numpy: words are
hashed straight from the UTF-8 bytes of a chunk of texts (a polynomial hash from
one prefix sum), counted in a count-min sketch, and MinHashed with
`bands * rows` multiply-add hash functions; texts that agree on all
`rows` values of a band become candidates, and candidates whose full signatures
agree in fewer than `min_sketch_similarity` of positions are dropped unscored.

Recall. With the defaults (32 bands x 3 rows) a pair whose signature Jaccard
similarity is >= 0.51 becomes a candidate with probability >= 0.99 (0.95 at 0.45,
0.9996 at 0.6). Planted near copies at token_sort_ratio >= 90 measured a median
Jaccard of 0.94 and a 1st percentile of 0.72, so they sit well above that unless
their differences are spread over many rare words (typos in most words, say).
benchmarks/DEDUPE.md has recall measured against brute-force all-pairs rapidfuzz.
Thresholds far below 90 need more bands (or fewer rows) for the same recall.

Determinism: no randomness besides hash constants fixed in this file, so the same
input gives the same output on any machine.
"""

from __future__ import annotations

import os
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel
from rapidfuzz import fuzz, process

from synthempathy.core.params import NearDupParams, Params
from synthempathy.core.records import Reject

__all__ = [
    "Duplicate",
    "NearDupParams",
    "candidate_pairs",
    "filter_by_agreement",
    "find_duplicates",
    "normalize",
    "score_pairs",
]


@dataclass(frozen=True)
class Duplicate:
    index: int
    """Position in the input of the dropped text."""
    of_index: int
    """Position of the kept text it duplicates (always smaller than `index`)."""
    score: float
    """100.0 for exact duplicates, the rapidfuzz score for near ones."""
    kind: str
    """"exact" (equal after normalize) or "near"."""


# --------------------------------------------------------------------------- normalize

_APOSTROPHES = frozenset(map(ord, "'\u2019\u2018\u02bc\uff07`\u00b4"))


class _StripTable(dict):
    """str.translate table built lazily: punctuation and symbols become a space,
    apostrophes and invisible format characters vanish, control characters become a
    space, everything else maps to itself."""

    def __missing__(self, cp: int) -> int | None:
        if cp in _APOSTROPHES:
            value = None
        else:
            cat = unicodedata.category(chr(cp))
            if cat[0] in "PS" or cat in ("Cc", "Zl", "Zp"):
                value = 32
            elif cat == "Cf":
                value = None
            else:
                value = cp
        self[cp] = value
        return value


_STRIP = _StripTable()


def normalize(text: str) -> str:
    """Lowercase, Unicode NFKC, strip punctuation and symbols, collapse whitespace.

    Apostrophes are deleted ("don't" -> "dont"); other punctuation becomes a word
    break. The result has no leading, trailing or repeated spaces and
    normalize(normalize(x)) == normalize(x).
    """
    if text.isascii():
        return " ".join(text.lower().translate(_STRIP).split())
    # NFKC can create punctuation (fullwidth "！") and deleting characters can make
    # combining marks composable, so repeat until nothing changes (2 rounds in practice).
    for _ in range(8):
        new = " ".join(unicodedata.normalize("NFKC", text).lower().translate(_STRIP).split())
        if new == text:
            break
        text = new
    return text


# --------------------------------------------------------------------------- hashing

_SEED = 0x5EEDD00D  # fixed: signatures are reproducible across runs and machines
_POLY = 0x100000001B3  # odd, so invertible mod 2^64
_CHUNK_BYTES = 1 << 20  # UTF-8 bytes of text per chunk (bounds scratch memory)
_CMS_BITS = 20  # count-min sketch of word frequencies: 2 rows of up to 2^20 counters
_HASH_BLOCK = 16384  # elements per MinHash block: (num_perm, block) uint64 scratch
_MASK64 = (1 << 64) - 1


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorised (uint64 in, new uint64 array out, wraps)."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


_powers_cache: list[np.ndarray] = []


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """POLY^k and POLY^-k mod 2^64 for k < n at least (cached, grown on demand)."""
    if not _powers_cache or len(_powers_cache[0]) < n:
        size = 1 << max(16, (n - 1).bit_length())
        fwd = np.full(size, _POLY, dtype=np.uint64)
        inv = np.full(size, pow(_POLY, -1, 1 << 64), dtype=np.uint64)
        fwd[0] = inv[0] = 1
        _powers_cache[:] = [np.cumprod(fwd), np.cumprod(inv)]
    return _powers_cache[0], _powers_cache[1]


def _byte_chunks(norm: Sequence[str]) -> list[tuple[int, int]]:
    """Consecutive ranges of texts of at most _CHUNK_BYTES characters (or one text)."""
    bounds, lo, size = [], 0, 0
    for i, t in enumerate(norm):
        if size + len(t) + 1 > _CHUNK_BYTES and i > lo:
            bounds.append((lo, i))
            lo, size = i, 0
        size += len(t) + 1
    if lo < len(norm):
        bounds.append((lo, len(norm)))
    return bounds


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of every word (flattened in text order) and the word count per text.

    Texts must be non-empty and normalized (single spaces, no newline). Each word is
    hashed as a polynomial over its UTF-8 bytes, all at once from one prefix sum:
    sum_j b[s+j] * P^j = (S[e] - S[s]) * P^-s  (mod 2^64), then mixed.
    """
    raw = np.frombuffer("\n".join(texts).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    fwd, inv = _powers(len(raw) + 1)
    prefix = np.empty(len(raw) + 1, dtype=np.uint64)
    prefix[0] = 0
    weighted = raw.astype(np.uint64)
    weighted *= fwd[: len(raw)]
    np.cumsum(weighted, out=prefix[1:])
    seps = np.flatnonzero(raw <= 32)  # a space between words, a newline between texts
    starts = np.empty(len(seps) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = seps + 1
    ends = np.empty(len(seps) + 1, dtype=np.int64)
    ends[:-1] = seps
    ends[-1] = len(raw)
    value = prefix[ends] - prefix[starts]
    value *= inv[starts]
    value += (ends - starts).astype(np.uint64)
    text_end = np.empty(len(ends), dtype=bool)
    text_end[:-1] = raw[seps] == 10
    text_end[-1] = True
    last_words = np.flatnonzero(text_end)
    if len(last_words) != len(texts):
        raise ValueError("candidate_pairs needs normalized texts (see normalize); got a newline")
    return _mix64(value), np.diff(last_words, prepend=-1)


def _sketch_rows(words: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    mask = np.uint64((1 << bits) - 1)
    return (words & mask).astype(np.intp), (words >> np.uint64(64 - bits)).astype(np.intp)


def _select(
    words: np.ndarray, lengths: np.ndarray, sketch: np.ndarray, common: np.ndarray, min_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """The blocking elements of some texts (uint64, text order) and how many per text.

    A text's elements are its words minus the corpus-common ones, but at least its
    `min_tokens` rarest words. Word counts come from a count-min sketch (it never
    undercounts; a rare word passes for a common one only if both its counters
    collide with common words). `common` is the sketch's counters > cutoff.
    """
    n_docs = len(lengths)
    row1, row2 = _sketch_rows(words, sketch.shape[1].bit_length() - 1)
    keep = ~(common[0][row1] & common[1][row2])
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    short = np.bincount(doc[keep], minlength=n_docs) < np.minimum(min_tokens, lengths)
    if short.any():
        # Too few rare words: keep the `min_tokens` rarest ones (ties by hash), so two
        # copies of a short text pick the same words.
        idx = np.flatnonzero(short[doc])
        freq = np.minimum(sketch[0][row1[idx]], sketch[1][row2[idx]])
        order = np.lexsort((words[idx], freq, doc[idx]))
        idx = idx[order]
        d = doc[idx]
        first = np.ones(len(d), dtype=bool)
        first[1:] = d[1:] != d[:-1]
        pos = np.arange(len(d))
        rank = pos - np.maximum.accumulate(np.where(first, pos, 0))
        keep[idx[rank < min_tokens]] = True
    return words[keep], np.bincount(doc[keep], minlength=n_docs)


def _splitmix64(state: int) -> int:
    z = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _perm_coefficients(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-permutation constants, shape (num_perm, 1): odd multipliers and offsets."""
    vals = [_splitmix64(_SEED + i) for i in range(2 * num_perm)]
    a = np.array(vals[0::2], dtype=np.uint64) | np.uint64(1)
    b = np.array(vals[1::2], dtype=np.uint64)
    return a[:, None], b[:, None]


def _minhash_into(out: np.ndarray, elements: np.ndarray, counts: np.ndarray, coef) -> None:
    """MinHash signatures of some texts into `out` (num_perm, texts) uint32.

    Hash k of element x is the top half of (a_k * x + b_k) mod 2^64, a_k odd: a
    multiply-shift family, which behaves like a random permutation here because the
    elements are already well-mixed 64-bit hashes. Every text needs >= 1 element;
    repeats do not change a minimum, so a text's words act as a set.
    """
    a, b = coef
    n_docs = len(counts)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    lo = 0
    while lo < n_docs:  # blocks of about _HASH_BLOCK elements, whole texts only
        hi = int(np.searchsorted(offsets, offsets[lo] + _HASH_BLOCK, side="right")) - 1
        hi = min(n_docs, max(hi, lo + 1))
        h = a * elements[offsets[lo] : offsets[hi]]  # (num_perm, block), wraps mod 2^64
        h += b
        mins = np.minimum.reduceat(h, offsets[lo:hi] - offsets[lo], axis=1)
        mins >>= np.uint64(32)
        out[:, lo:hi] = mins
        lo = hi


def _signatures(norm: Sequence[str], params: NearDupParams, progress: bool) -> np.ndarray:
    """MinHash signatures (num_perm, texts) uint32 of non-empty normalized texts."""
    chunks = _byte_chunks(norm)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    # about one counter per 32 characters of text, up to 2^_CMS_BITS per row
    bits = min(_CMS_BITS, max(10, (sum(len(t) for t in norm) // 32).bit_length()))
    sketch = np.zeros((2, 1 << bits), dtype=np.int64)
    for lo, hi in _progress(chunks, len(chunks), "hash words", progress):
        words, lengths = _word_hashes(norm[lo:hi])
        row1, row2 = _sketch_rows(words, bits)
        sketch[0] += np.bincount(row1, minlength=1 << bits)
        sketch[1] += np.bincount(row2, minlength=1 << bits)
        parts.append((words, lengths))
    common = sketch > params.max_word_count
    coef = _perm_coefficients(params.num_perm)
    sig = np.empty((params.num_perm, len(norm)), dtype=np.uint32)
    for (lo, hi), (words, lengths) in _progress(
        zip(chunks, parts), len(chunks), "minhash", progress
    ):
        elements, counts = _select(words, lengths, sketch, common, params.min_tokens)
        _minhash_into(sig[:, lo:hi], elements, counts, coef)
    return sig


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a project dependency
        print(f"dedupe: {desc} ({total})", file=sys.stderr)
        return iterable
    return tqdm(iterable, total=total, desc=f"dedupe: {desc}", file=sys.stderr, leave=False)


def _band_keys(sig: np.ndarray, band: int, rows: int) -> np.ndarray:
    """One uint64 key per text for the band's `rows` signature values."""
    key = np.full(sig.shape[1], (band * 0x9E3779B97F4A7C15) & ((1 << 64) - 1), dtype=np.uint64)
    for row in sig[band * rows : (band + 1) * rows]:
        key ^= row
        key = _mix64(key)
    return key


def _pairs_in_buckets(key: np.ndarray) -> np.ndarray:
    """Pair codes lo * n + hi for every two texts that share a key."""
    n = len(key)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    same_next = skey[1:] == skey[:-1]
    if not same_next.any():
        return np.zeros(0, dtype=np.int64)
    # end of the run of equal keys each sorted position belongs to
    boundary = np.flatnonzero(~same_next) + 1  # first position of each later run
    run_end = np.append(boundary, n)
    run_id = np.zeros(n, dtype=np.int64)
    run_id[boundary] = 1
    np.cumsum(run_id, out=run_id)
    partners = run_end[run_id] - np.arange(n) - 1  # later members of my run
    total = int(partners.sum())
    first = np.repeat(np.arange(n, dtype=np.int64), partners)
    start = np.repeat(np.cumsum(partners) - partners, partners)
    second = first + (np.arange(total, dtype=np.int64) - start) + 1
    u, v = order[first], order[second]
    return np.minimum(u, v) * np.int64(n) + np.maximum(u, v)


def _candidate_pairs(sig: np.ndarray, bands: int, rows: int, progress: bool) -> np.ndarray:
    """Unique candidate pairs (k, 2) int64 with [:, 0] < [:, 1], sorted."""
    n = sig.shape[1]
    acc = np.zeros(0, dtype=np.int64)
    pending: list[np.ndarray] = []
    pending_size = 0
    for band in _progress(range(bands), bands, "lsh", progress):
        codes = _pairs_in_buckets(_band_keys(sig, band, rows))
        if len(codes):
            pending.append(codes)
            pending_size += len(codes)
        if pending_size > 4_000_000:
            acc = np.unique(np.concatenate([acc, *pending]))
            pending, pending_size = [], 0
    acc = np.unique(np.concatenate([acc, *pending]))
    return np.stack([acc // n, acc % n], axis=1) if n else np.zeros((0, 2), np.int64)


def score_pairs(
    texts: Sequence[str], pairs: np.ndarray, params: NearDupParams, progress: bool = False
) -> np.ndarray:
    """params.scorer score (float64) of each pair of normalized texts; 0 below the threshold."""
    scores = np.zeros(len(pairs), dtype=np.float64)
    if not len(pairs):
        return scores
    needed = np.unique(pairs).tolist()
    if params.scorer == "token_sort_ratio":
        # token_sort_ratio(a, b) == ratio(sorted tokens of a, sorted tokens of b): sort once.
        strings = {i: " ".join(sorted(texts[i].split(" "))) for i in needed}
    else:
        strings = {i: texts[i] for i in needed}
    step = 100_000
    starts = range(0, len(pairs), step)
    for s in _progress(starts, len(starts), "confirm", progress):
        part = pairs[s : s + step]
        scores[s : s + step] = process.cpdist(
            [strings[i] for i in part[:, 0].tolist()],
            [strings[j] for j in part[:, 1].tolist()],
            scorer=fuzz.ratio,
            processor=None,
            # rapidfuzz turns the cutoff into an edit-distance bound and can then reject
            # a pair scoring exactly the cutoff: ask for a little less, compare below.
            score_cutoff=max(0.0, params.threshold - 1.0),
            dtype=np.float64,
            workers=_workers(),
        )
    scores[scores < params.threshold] = 0.0
    return scores


# --------------------------------------------------------------------------- API


def candidate_pairs(
    texts: Sequence[str],
    params: NearDupParams,
    progress: bool = False,
    info: dict[str, Any] | None = None,
) -> np.ndarray:
    """MinHash/LSH candidate pairs among normalized, non-empty texts.

    Returns a (k, 2) int64 array of positions, each row (i, j) with i < j, sorted and
    unique. Pairs that are not returned are never scored. `info`, when given, gets
    the number of LSH pairs before the signature-agreement filter ("lsh_pairs").
    """
    if len(texts) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    sig = _signatures(texts, params, progress)
    pairs = _candidate_pairs(sig, params.bands, params.rows, progress)
    if info is not None:
        info["lsh_pairs"] = len(pairs)
    return filter_by_agreement(np.ascontiguousarray(sig.T), pairs, params.min_sketch_similarity)


def filter_by_agreement(sig: np.ndarray, pairs: np.ndarray, min_fraction: float) -> np.ndarray:
    """Keep the pairs whose signature rows (sig: texts x num_perm) agree in >= min_fraction."""
    if min_fraction <= 0 or not len(pairs):
        return pairs
    need = min_fraction * sig.shape[1] - 1e-9
    keep = np.zeros(len(pairs), dtype=bool)
    step = max(1, (1 << 22) // sig.shape[1])
    for s in range(0, len(pairs), step):
        part = pairs[s : s + step]
        keep[s : s + step] = np.count_nonzero(sig[part[:, 0]] == sig[part[:, 1]], axis=1) >= need
    return pairs[keep]


CandidateFn = Callable[[Sequence[str], NearDupParams, bool, dict], np.ndarray]


def find_duplicates(
    texts: Sequence[str],
    params: NearDupParams,
    progress: bool = False,
    *,
    stats: dict[str, Any] | None = None,
    candidates: CandidateFn | None = None,
) -> list[Duplicate]:
    """One `Duplicate` per dropped text, sorted by index.

    Texts are taken in the order given, first wins. A text equal after `normalize`
    to an earlier kept text is an "exact" duplicate (score 100). With
    `params.enabled`, a text scoring >= `params.threshold` against an earlier kept
    text is a "near" duplicate of the best-scoring such text (lowest index on ties).
    A copy of a dropped text points at the kept text, never at the dropped one.
    `stats`, when given, is filled with counts and per-step seconds. `candidates`: how pairs to
    compare are proposed (default the MinHash/LSH index, candidate_pairs; benchmarks/DEDUPE.md
    compares another).
    """
    return _find(texts, params, progress, stats, candidates or candidate_pairs)


def _find(
    texts: Sequence[str],
    params: NearDupParams,
    progress: bool,
    stats: dict[str, Any] | None,
    candidates: CandidateFn,
) -> list[Duplicate]:
    if not params.enabled:
        if stats is not None:
            stats.update(texts=len(texts), unique=None, lsh_pairs=0, candidate_pairs=0, near_pairs=0,
                         exact=0, near=0, seconds={})
        return []
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = now - clock
        clock = now

    norm_all = [normalize(t) for t in texts]
    first_of: dict[str, int] = {}
    rep_of = [first_of.setdefault(t, i) for i, t in enumerate(norm_all)]  # first equal text
    lap("normalize")
    info: dict[str, Any] = {
        "texts": len(texts),
        "unique": len(first_of),
        "lsh_pairs": 0,
        "candidate_pairs": 0,
        "near_pairs": 0,
    }

    # Near duplicates among the distinct non-empty texts, in input order.
    dropped_for: dict[int, tuple[float, int]] = {}  # text -> (score, kept text it matches)
    indexed = np.array([i for t, i in first_of.items() if t], dtype=np.int64)  # ascending
    norm = [norm_all[i] for i in indexed.tolist()]
    pairs = candidates(norm, params, progress, info)
    lap("candidates")
    scores = score_pairs(norm, pairs, params, progress)
    lap("confirm")
    ok = scores >= params.threshold
    info["candidate_pairs"] = len(pairs)
    info["near_pairs"] = int(ok.sum())
    hits = pairs[ok]
    order = np.lexsort((hits[:, 0], hits[:, 1]))  # by the later text, then the earlier
    passing = list(
        zip(indexed[hits[order, 0]].tolist(), indexed[hits[order, 1]].tolist(), scores[ok][order].tolist())
    )
    for lo, hi, score in passing:  # `lo` is final: all its own pairs came earlier
        if lo in dropped_for:
            continue  # only kept texts absorb later ones
        best = dropped_for.get(hi)
        if best is None or score > best[0]:  # ties keep the lower index (seen first)
            dropped_for[hi] = (score, lo)

    # Exact copies of a near-dropped text: its best kept partner preceding the copy.
    partners: dict[int, list[tuple[float, int]]] = {}
    if dropped_for and len(first_of) < len(norm_all):
        copied = {r for i, r in enumerate(rep_of) if r != i}
        for lo, hi, score in passing:
            if hi in copied and hi in dropped_for and lo not in dropped_for:
                partners.setdefault(hi, []).append((score, lo))
            if lo in copied and lo in dropped_for and hi not in dropped_for:
                partners.setdefault(lo, []).append((score, hi))

    out: list[Duplicate] = []
    for i, r in enumerate(rep_of):
        if r != i:
            if r in dropped_for:
                score, of = max(((s, k) for s, k in partners[r] if k < i), key=lambda sk: (sk[0], -sk[1]))
                out.append(Duplicate(i, of, score, "near"))
            else:
                out.append(Duplicate(i, r, 100.0, "exact"))
        elif i in dropped_for:
            score, of = dropped_for[i]
            out.append(Duplicate(i, of, score, "near"))
    lap("resolve")
    info["exact"] = sum(d.kind == "exact" for d in out)
    info["near"] = len(out) - info["exact"]
    info["seconds"] = seconds
    if stats is not None:
        stats.update(info)
    return out


def by_id(record: BaseModel) -> str:
    """The default dedupe priority: of two copies, the lower id wins."""
    return record.id


def dedupe(records: Sequence[BaseModel], field: str, params: NearDupParams, stage: str,
           priority: Callable[[Any], Any] | None = by_id) -> tuple[list, list[Reject]]:
    """Drop exact and near duplicates of `field`, keeping input order. Of two copies the one
    first by `priority` wins (default: by id; None: the earlier in the input)."""
    ordered = sorted(records, key=priority) if priority else list(records)
    found = find_duplicates([getattr(r, field) for r in ordered], params) if params.enabled else []
    drop = {ordered[d.index].id: d for d in found}
    kept, dropped = [], []
    for record in records:
        dup = drop.get(record.id)
        if dup is None:
            kept.append(record)
            continue
        dropped.append(Reject(
            id=record.id, stage=stage, reason=f"{dup.kind}_duplicate", detail=field,
            score=round(dup.score, 2), duplicate_of=ordered[dup.of_index].id,
            record=record.model_dump(mode="json"),
        ))
    return kept, dropped


def dedupe_field(field: str, stage: str, priority: Callable[[Any], Any] | None = by_id
                 ) -> Callable[[list, Params], tuple[list, list[Reject]]]:
    """A generation-stage postprocess that dedupes `field` with the filter.near_dup params."""

    def postprocess(records: list, params: Params) -> tuple[list, list[Reject]]:
        return dedupe(records, field, params.filter.near_dup, stage, priority)

    return postprocess
