"""Crisis disclosures: the lexicon (quality/safety.py) against and beside a sentence-encoder classifier.

The labelled explanations of tests/data/safety_explanations.jsonl (dev / test, SAFETY_LABELS.md)
are embedded with the packaged all-MiniLM-L6-v2 (frozen, mean-pooled, normalised; whole text, which
fits its 256 tokens, and sentence by sentence, a text taking its riskiest sentence), a logistic
regression over none and the three risk categories is fitted on dev (C by 5-fold cross-validation on
dev), and the risk threshold is the lowest that keeps the out-of-fold dev precision at or above
--precision. Printed for the test split: precision and
recall of "any risk", recall per category and the share of no-risk texts flagged, for the lexicon
alone, the encoder alone, and either of the two.

Usage: PYTHONPATH=src python benchmarks/safety_encoder.py [--precision 0.9]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests/data/safety_explanations.jsonl"


def embed(texts: list[str]):
    import torch

    from synthempathy.epitome.encoder import Encoder, encoder_dir

    model = Encoder.load(encoder_dir("minilm"), 256, 0)
    with torch.inference_mode():
        return torch.cat([model.embed(texts[i:i + 32]) for i in range(0, len(texts), 32)]).numpy()


def pooled_risk(classes, probs, owner: list[int], n: int):
    """Per text, the highest sentence probability of any risk, and that sentence's category probabilities."""
    import numpy as np

    none = list(classes).index("none")
    risk = 1 - probs[:, none]
    best = np.full(n, -1.0)
    out = np.zeros((n, probs.shape[1]))
    for row, text in enumerate(owner):
        if risk[row] > best[text]:
            best[text], out[text] = risk[row], probs[row]
    return best, out


def fit(x, y):
    from sklearn.linear_model import LogisticRegressionCV

    return LogisticRegressionCV(Cs=[0.25, 1, 4, 16, 64], cv=5, class_weight="balanced", max_iter=5000,
                                random_state=0).fit(x, y)


def main() -> None:
    import numpy as np

    from synthempathy.epitome.sentences import split_sentences
    from synthempathy.quality.safety import CATEGORIES, flag
    from synthempathy.quality.safety_agreement import agreement

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", type=float, default=0.9)
    args = ap.parse_args()
    rows = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    dev, test = [r for r in rows if r["split"] == "dev"], [r for r in rows if r["split"] == "test"]
    lexicon = {r["id"]: (f.category if (f := flag(r["text"])) else "none") for r in rows}
    print(f"{len(dev)} dev, {len(test)} test explanations")
    print("| detector | precision | recall | none flagged | recall per category |")
    print("|---|---|---|---|---|")

    def report(name: str, predicted: list[str]) -> None:
        """Any risk flagged, whatever the category: the per-category figure is agreement's `flagged`."""
        s = agreement([r["category"] for r in test], predicted)
        per = ", ".join(f"{c} {s[c]['flagged']}" for c in CATEGORIES if s[c]["labelled"])
        print(f"| {name} | {s['any_risk']['precision']} | {s['any_risk']['recall']} | {s['none_flagged']['rate']} "
              f"| {per} |")

    report("lexicon", [lexicon[r["id"]] for r in test])
    for unit in ("text", "sentence"):
        pieces = {}
        for split in (dev, test):
            texts, owner = [], []
            for i, r in enumerate(split):
                for piece in (split_sentences(r["text"]) if unit == "sentence" else [r["text"]]):
                    texts.append(piece)
                    owner.append(i)
            pieces[id(split)] = (embed(texts), owner)
        x_dev, owner_dev = pieces[id(dev)]
        y_dev = [dev[i]["category"] for i in owner_dev]
        model = fit(x_dev, y_dev)
        # the threshold is set on out-of-fold dev probabilities, folds by text (in-sample ones are overconfident)
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold, cross_val_predict

        oof = cross_val_predict(LogisticRegression(C=model.C_[0], class_weight="balanced", max_iter=5000), x_dev,
                                y_dev, groups=owner_dev, cv=GroupKFold(5), method="predict_proba")
        dev_risk, _ = pooled_risk(model.classes_, oof, owner_dev, len(dev))
        truth = np.array([r["category"] != "none" for r in dev])
        threshold = 1.0
        for t in sorted(set(dev_risk.tolist()), reverse=True):  # lower it while dev precision holds
            flagged = dev_risk >= t
            if (truth & flagged).sum() / flagged.sum() < args.precision:
                break
            threshold = t
        x_test, owner_test = pieces[id(test)]
        test_risk, test_probs = pooled_risk(model.classes_, model.predict_proba(x_test), owner_test, len(test))
        classes = [c for c in model.classes_]
        encoded = [classes[int(np.argmax([p if c != "none" else -1 for c, p in zip(classes, probs)]))]
                   if risk >= threshold else "none" for risk, probs in zip(test_risk, test_probs)]
        report(f"encoder ({unit}, threshold {threshold:.2f})", encoded)
        report(f"lexicon or encoder ({unit})",
               [lexicon[r["id"]] if lexicon[r["id"]] != "none" else e for r, e in zip(test, encoded)])


if __name__ == "__main__":
    main()
