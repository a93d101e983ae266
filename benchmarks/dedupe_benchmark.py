"""Benchmark synthempathy.quality.dedupe against datasketch and against brute force.

    python benchmarks/dedupe_benchmark.py                 # 105,000 texts + 5,000-text recall check
    python benchmarks/dedupe_benchmark.py --n 2000        # quick (~15 s)

Three measurements, on a synthetic corpus generated here (seeded, no downloads):

1. Speed at scale (--n texts): `find_duplicates` end to end, against the same
   pipeline with its candidate generator swapped for datasketch `MinHash.bulk` +
   `MinHashLSH` over the same word sets, bands and rows, followed by the same
   rapidfuzz confirmation. Each runs in its own subprocess so that its peak RSS
   (ru_maxrss) is its own.
2. Recall (--recall-n texts): every pair of distinct texts is scored with
   rapidfuzz (brute force); pairs at or above the threshold are the truth. Reports
   LSH pair recall, and recall/precision of the dropped set against a brute-force
   first-wins dedupe.
3. Peak memory of both (process peak RSS and its growth over the loaded corpus).

The corpus: ~150-word texts of 8-12 sentences; words drawn Zipf(1.0) from a
30,000-word vocabulary (English function/empathy words first, then pseudo-words),
15% of sentences from a pool of 400 stock phrases (LLM output is formulaic), plus
planted copies of earlier texts: exact (case, spacing, punctuation) and near
(reordered sentences, a dropped sentence, word swaps, changed words, typos, mixes).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from synthempathy.quality import dedupe  # noqa: E402
from synthempathy.quality.dedupe import NearDupParams, find_duplicates, normalize  # noqa: E402

# --------------------------------------------------------------------------- corpus

HEAD_WORDS = (
    "i you the to and a that it's is your of it this feel so be can with for in what "
    "are you're not really like it sounds have how about me but my on just don't all "
    "know was do sorry hear things that's make when more can't at there if even they "
    "we feeling time right way feelings which would as or help understand may through "
    "been going something someone people could might hard also okay normal need talk "
    "want one think take here from out up them by ok about would've felt alone overwhelmed "
    "stress support others care yourself other still difficult anxious sad angry hurt "
    "frustrated worried better step situation moment family friend work job day"
).split()
SYLLABLES = (
    "ka lo mi ne ru ta shi ven dor pel an is ou el tra ber col fen gi har jo qua sar "
    "tes ul vo wen yi zor pri st ing re con de ex"
).split()


class CorpusGenerator:
    def __init__(self, seed: int, vocab_size: int = 30_000, zipf: float = 1.0, edit_scale: float = 1.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.edit_scale = edit_scale
        self.vocab = self._make_vocab(vocab_size)
        weights = 1.0 / np.arange(1, vocab_size + 1) ** zipf
        self.cdf = np.cumsum(weights / weights.sum())
        self._buf = np.zeros(0, dtype=np.int64)
        self._pos = 0
        self.stock = [self.sentence(int(self.rng.integers(6, 14))) for _ in range(400)]
        stock_w = 1.0 / np.arange(1, 401)
        self.stock_cdf = np.cumsum(stock_w / stock_w.sum())

    def _make_vocab(self, n: int) -> list[str]:
        words, seen = list(dict.fromkeys(HEAD_WORDS)), set(HEAD_WORDS)
        while len(words) < n:
            nsyl = 1 + int(np.log10(len(words) + 1) * 0.6 + self.rng.random())
            w = "".join(SYLLABLES[i] for i in self.rng.integers(0, len(SYLLABLES), nsyl))
            if w not in seen:
                seen.add(w)
                words.append(w)
        return words

    def words(self, k: int) -> list[str]:
        if self._pos + k > len(self._buf):
            draws = np.searchsorted(self.cdf, self.rng.random(1 << 18))
            self._buf = np.minimum(draws, len(self.vocab) - 1)
            self._pos = 0
        out = self._buf[self._pos : self._pos + k]
        self._pos += k
        return [self.vocab[i] for i in out]

    def sentence(self, k: int) -> str:
        ws = self.words(k)
        ws[0] = ws[0].capitalize()
        if k > 10 and self.rng.random() < 0.5:
            ws[k // 2] += ","
        return " ".join(ws) + (".", ".", ".", "!", "?")[int(self.rng.integers(0, 5))]

    def fresh(self) -> list[str]:
        out = []
        for _ in range(int(self.rng.integers(8, 13))):
            if self.rng.random() < 0.15:
                out.append(self.stock[int(np.searchsorted(self.stock_cdf, self.rng.random()))])
            else:
                out.append(self.sentence(int(self.rng.integers(8, 23))))
        return out

    def near_copy(self, sentences: list[str]) -> tuple[list[str], str]:
        rng = self.rng
        ss = list(sentences)
        op = ("reorder", "drop_sentence", "swap", "change", "typo", "mixed")[int(rng.integers(0, 6))]
        if op == "reorder":
            rng.shuffle(ss)
            return ss, op
        if op == "drop_sentence" and len(ss) > 5:
            del ss[int(rng.integers(0, len(ss)))]
            return ss, op
        if op == "mixed":
            rng.shuffle(ss)
        words = " ".join(ss).split(" ")
        k = int(rng.integers(1, 1 + round(self.edit_scale * {"swap": 8, "change": 20, "typo": 8}.get(op, 12))))
        for _ in range(k):
            a = int(rng.integers(0, len(words) - 1))
            kind = op if op != "mixed" else ("swap", "change", "typo")[int(rng.integers(0, 3))]
            if kind == "swap":
                words[a], words[a + 1] = words[a + 1], words[a]
            elif kind == "change":
                words[a] = self.words(1)[0]
            else:
                w = words[a]
                c = int(rng.integers(0, len(w)))
                words[a] = w[:c] + "xqz"[int(rng.integers(0, 3))] + w[c + 1 :]
        return [" ".join(words)], f"{op}:{k}"

    def exact_copy(self, text: str) -> str:
        r = int(self.rng.integers(0, 3))
        if r == 0:
            return text.upper()
        if r == 1:
            return "  " + text.replace(" ", "   ").replace(".", " .\n")
        return text.replace(",", "").replace("!", "!!").replace("'", "")


def generate_corpus(
    n: int, seed: int, near_frac: float = 0.04, exact_frac: float = 0.02, edit_scale: float = 1.0
) -> tuple[list[str], list[tuple[int, int, str]]]:
    """n texts and the planted copies as (index, source index, how)."""
    gen = CorpusGenerator(seed, edit_scale=edit_scale)
    texts: list[str] = []
    sentences: list[list[str]] = []
    planted: list[tuple[int, int, str]] = []
    for i in range(n):
        u = gen.rng.random()
        if i >= 10 and u < near_frac + exact_frac:
            j = int(gen.rng.integers(0, i))
            if u < near_frac:
                ss, how = gen.near_copy(sentences[j])
                texts.append(" ".join(ss))
            else:
                ss, how = sentences[j], "exact"
                texts.append(gen.exact_copy(texts[j]))
            sentences.append(ss)
            planted.append((i, j, how))
        else:
            ss = gen.fresh()
            sentences.append(ss)
            texts.append(" ".join(ss))
    return texts, planted


# --------------------------------------------------------------------------- datasketch


def datasketch_candidates(texts, params: NearDupParams, progress: bool = False, info=None) -> np.ndarray:
    """The same blocking as dedupe.candidate_pairs, with datasketch doing MinHash + LSH.

    Word sets are built the same way (words occurring more than max_word_count
    times left out, at least `min_tokens` rarest words kept; exact counts from a
    Counter), and the same signature-agreement filter runs on datasketch's hash values.
    """
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    split = [t.split(" ") for t in texts]
    counts = Counter(w for ws in split for w in ws)
    cutoff = params.max_word_count
    sets = []
    for ws in split:
        kept = {w for w in ws if counts[w] <= cutoff}
        if len(kept) < min(params.min_tokens, len(ws)):
            kept = set(sorted(set(ws), key=lambda w: (counts[w], w))[: params.min_tokens])
        sets.append([w.encode("utf-8", "surrogatepass") for w in kept])
    del split
    t1 = time.perf_counter()
    mhs = MinHash.bulk(sets, num_perm=params.num_perm)
    t2 = time.perf_counter()
    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows))
    with lsh.insertion_session() as session:
        for i, mh in enumerate(mhs):
            session.insert(i, mh, check_duplication=False)
    found = []
    for i, mh in enumerate(mhs):
        for j in lsh.query(mh):
            if j > i:
                found.append(i * len(texts) + j)
    t3 = time.perf_counter()
    codes = np.unique(np.array(found, dtype=np.int64))
    pairs = np.stack([codes // len(texts), codes % len(texts)], axis=1)
    if info is not None:
        info["lsh_pairs"] = len(pairs)
    sig = np.array([mh.hashvalues for mh in mhs])
    pairs = dedupe.filter_by_agreement(sig, pairs, params.min_sketch_similarity)
    DATASKETCH_SECONDS.update(word_sets=t1 - t0, minhash_bulk=t2 - t1, lsh=t3 - t2, filter=time.perf_counter() - t3)
    return pairs


DATASKETCH_SECONDS: dict[str, float] = {}


# --------------------------------------------------------------------------- brute force


def brute_force(texts: list[str], params: NearDupParams) -> tuple[set[tuple[int, int]], set[int]]:
    """All pairs of distinct non-empty normalized texts scored with rapidfuzz.

    Returns the pairs (input indices) at or above the threshold, and the set of
    indices a first-wins dedupe drops (exact copies included).
    """
    norm = [normalize(t) for t in texts]
    first: dict[str, int] = {}
    rep_of = [first.setdefault(t, i) for i, t in enumerate(norm)]
    reps = [i for t, i in first.items() if t]
    if params.scorer == "token_sort_ratio":
        strings = [" ".join(sorted(norm[i].split(" "))) for i in reps]
    else:
        strings = [norm[i] for i in reps]
    true_pairs: set[tuple[int, int]] = set()
    block = 256
    for lo in range(0, len(strings), block):
        m = process.cdist(
            strings[lo : lo + block],
            strings[lo:],
            scorer=fuzz.ratio,
            score_cutoff=max(0.0, params.threshold - 1.0),  # rapidfuzz's cutoff is not inclusive
            dtype=np.float64,
            workers=-1,
        )
        for a, b in zip(*np.nonzero(m >= params.threshold)):
            if lo + a < lo + b:
                true_pairs.add((reps[lo + a], reps[lo + b]))
    dropped: set[int] = set()
    later: dict[int, list[int]] = {}
    for a, b in true_pairs:
        later.setdefault(b, []).append(a)
    for i in reps:  # ascending
        if any(a not in dropped for a in later.get(i, ())):
            dropped.add(i)
    dropped |= {i for i, r in enumerate(rep_of) if r != i}
    return true_pairs, dropped


def planted_pair_recall(texts, planted, params: NearDupParams) -> tuple[int, int]:
    """How many planted (copy, source) pairs at/above the threshold are candidates."""
    norm = [normalize(t) for t in texts]
    first: dict[str, int] = {}
    rep_of = [first.setdefault(t, i) for i, t in enumerate(norm)]
    indexed = [i for t, i in first.items() if t]
    pos = {i: k for k, i in enumerate(indexed)}
    cands = {tuple(p) for p in dedupe.candidate_pairs([norm[i] for i in indexed], params).tolist()}
    scorer = fuzz.token_sort_ratio if params.scorer == "token_sort_ratio" else fuzz.ratio
    found = total = 0
    for i, j, _ in planted:
        a, b = sorted((pos[rep_of[j]], pos[rep_of[i]])) if norm[i] and norm[j] else (0, 0)
        if a != b and scorer(norm[i], norm[j]) >= params.threshold:
            total += 1
            found += (a, b) in cands
    return found, total


# --------------------------------------------------------------------------- workers


def run_worker(method: str, corpus: str, params_json: str) -> dict:
    with open(corpus, "rb") as fh:
        texts = pickle.load(fh)
    params = NearDupParams.model_validate_json(params_json)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats: dict = {}
    t0 = time.perf_counter()
    if method == "ours":
        dups = find_duplicates(texts, params, stats=stats)
    else:
        dups = find_duplicates(texts, params, stats=stats, candidates=datasketch_candidates)
        stats["seconds"]["datasketch"] = dict(DATASKETCH_SECONDS)
    wall = time.perf_counter() - t0
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "method": method,
        "wall_s": wall,
        "stats": stats,
        "rss_loaded_mb": rss_loaded / 1024,
        "rss_peak_mb": rss_peak / 1024,
        "dropped": [[d.index, d.of_index, d.kind] for d in dups],
    }


def in_subprocess(method: str, corpus: str, params: NearDupParams) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", method, "--corpus", corpus, "--params", params.model_dump_json()],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=105_000, help="texts in the speed run (default 105000)")
    ap.add_argument(
        "--recall-n", type=int, default=None, help="texts in the brute-force recall run (default min(5000, n); 0: skip)"
    )
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument(
        "--edit-scale", type=float, default=1.0,
        help="multiply the number of edits in planted near copies (recall sample only; 3 = much harder)",
    )
    ap.add_argument("--no-datasketch", action="store_true", help="skip the datasketch baseline")
    ap.add_argument("--params", default="{}", help="NearDupParams overrides as JSON")
    ap.add_argument("--worker", choices=["ours", "datasketch"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(run_worker(args.worker, args.corpus, args.params)))
        return

    params = NearDupParams.model_validate_json(args.params)
    if args.recall_n is None:
        args.recall_n = min(5_000, args.n)
    print(
        f"machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable; python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"params: {params.model_dump()}  (num_perm={params.num_perm})")

    if args.n:
        t0 = time.perf_counter()
        texts, planted = generate_corpus(args.n, args.seed)
        words = np.mean([len(t.split()) for t in texts[:5000]])
        print(
            f"\ncorpus: {len(texts)} texts, ~{words:.0f} words each, {len(planted)} planted copies "
            f"({sum(h == 'exact' for _, _, h in planted)} exact); generated in {time.perf_counter() - t0:.1f}s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            corpus = os.path.join(tmp, "corpus.pkl")
            with open(corpus, "wb") as fh:
                pickle.dump(texts, fh)
            runs = [in_subprocess("ours", corpus, params)]
            if not args.no_datasketch:
                runs.append(in_subprocess("datasketch", corpus, params))
        print(
            f"\n{'method':<28}{'wall s':>8}{'LSH pairs':>11}{'scored':>9}{'near':>8}{'exact':>8}"
            f"{'peak RSS MB':>13}{'RSS growth MB':>15}"
        )
        for r in runs:
            st = r["stats"]
            name = "synthempathy.quality.dedupe" if r["method"] == "ours" else "datasketch + same confirm"
            print(
                f"{name:<28}{r['wall_s']:>8.2f}{st['lsh_pairs']:>11,}{st['candidate_pairs']:>9,}"
                f"{st['near']:>8,}{st['exact']:>8,}"
                f"{r['rss_peak_mb']:>13.0f}{r['rss_peak_mb'] - r['rss_loaded_mb']:>15.0f}"
            )
        for r in runs:
            secs = {k: (round(v, 2) if isinstance(v, float) else {kk: round(vv, 2) for kk, vv in v.items()})
                    for k, v in r["stats"]["seconds"].items()}
            print(f"  {r['method']} steps (s): {secs}")
        if len(runs) == 2:
            a = {tuple(d) for d in runs[0]["dropped"]}
            b = {tuple(d) for d in runs[1]["dropped"]}
            print(f"  speedup {runs[1]['wall_s'] / runs[0]['wall_s']:.2f}x; identical output: {a == b} "
                  f"(only ours {len(a - b)}, only datasketch {len(b - a)})")
        found, total = planted_pair_recall(texts, planted, params)
        print(f"  planted near copies scoring >= {params.threshold:g}: {total}; "
              f"among our candidates: {found} (recall {found / max(1, total):.4f})")

    if args.recall_n:
        texts, planted = generate_corpus(
            args.recall_n, args.seed + 1, near_frac=0.10, exact_frac=0.03, edit_scale=args.edit_scale
        )
        t0 = time.perf_counter()
        true_pairs, true_dropped = brute_force(texts, params)
        brute_s = time.perf_counter() - t0
        stats: dict = {}
        t0 = time.perf_counter()
        dups = find_duplicates(texts, params, stats=stats)
        ours_s = time.perf_counter() - t0
        norm = [normalize(t) for t in texts]
        first: dict[str, int] = {}
        for i, t in enumerate(norm):
            first.setdefault(t, i)
        indexed = [i for t, i in first.items() if t]
        lsh_info: dict = {}
        cands = dedupe.candidate_pairs([norm[i] for i in indexed], params, info=lsh_info)
        cand_set = {(indexed[a], indexed[b]) for a, b in cands.tolist()}
        found = len(true_pairs & cand_set)
        ours_dropped = {d.index for d in dups}
        tp = len(ours_dropped & true_dropped)
        print(f"\nrecall sample: {len(texts)} texts, {len(planted)} planted copies, "
              f"{len(indexed) * (len(indexed) - 1) // 2:,} pairs brute-forced in {brute_s:.1f}s (ours {ours_s:.2f}s)")
        print(f"  pairs >= {params.threshold:g}: {len(true_pairs)}; "
              f"LSH pairs {lsh_info['lsh_pairs']:,}, scored {len(cands):,}; "
              f"pair recall {found / max(1, len(true_pairs)):.4f}")
        print(f"  dropped: brute force {len(true_dropped)}, ours {len(ours_dropped)}; "
              f"recall {tp / max(1, len(true_dropped)):.4f}, precision {tp / max(1, len(ours_dropped)):.4f}")
        missed = sorted(true_pairs - cand_set)
        if missed:
            how = {i: h for i, _, h in planted}
            for a, b in missed[:10]:
                print(f"  missed pair {a},{b} ({how.get(b, 'unplanted')}): "
                      f"{fuzz.token_sort_ratio(norm[a], norm[b]):.1f}")


    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
