"""Stage 4, filter: the quality gate between generated pairs and the corpus.

Runs the checks filter.blocks lists, in order (quality/blocks.py): the field
checks (empty, scaffolding leaked, refusal, repetition, cut off, length), the
pair gates (filter.gates: a malformed emotion or cause, an explanation not told
in the first person or not about its story, a response not spoken to the
person), crisis disclosures as filter.safety.policy says (quality/safety.py:
flagged pairs carry a `safety` label), toxicity (filter.toxicity), then exact
and near duplicates of explanations and responses. Leaked scaffolding is one of
filter.leak_markers or one of the generating model's own turn markers, read
from its GGUF (a chat model's <|im_end|>). Every drop, from this stage and the
generating stages before it (--upstream-rejects), lands in the corpus's
rejects with its stage and reason.
"""

import sys
from collections import Counter

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import FilterMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import Pair, Reject
from synthempathy.generation.llm import model_markers
from synthempathy.quality.blocks import run_blocks
from synthempathy.quality.safety import label, safety_counts


@stage(reads=("pairs", "upstream_rejects"), writes=("out", "rejects", "metrics"), many=("upstream_rejects",))
def main(files: Files) -> None:
    params = load_params()
    checks = params.filter.with_markers(model_markers(params.llm))
    pairs = read_records(files.pairs, Pair)
    if params.filter.safety.enabled:
        pairs = [label(pair) for pair in pairs]
    upstream = [r for path in files.upstream_rejects for r in read_records(path, Reject)]
    kept, dropped = run_blocks(pairs, checks)
    write_records(files.out, kept)
    write_records(files.rejects, upstream + dropped)
    reasons = Counter(r.reason for r in dropped)
    metrics = {"pairs_in": len(pairs), "kept": len(kept), "dropped": dict(sorted(reasons.items()))}
    if params.filter.safety.enabled:
        metrics["safety"] = safety_counts(pairs, kept, dropped)
    write_metrics(files.metrics, FilterMetrics, metrics)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
    print(f"filter: {len(pairs)} pairs -> {len(kept)} kept, {len(dropped)} dropped ({summary})", file=sys.stderr)


if __name__ == "__main__":
    main()
