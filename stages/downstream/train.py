"""Downstream 3, train: a LoRA on the base model, explanation in, response out, loss on the response.

Reads data/downstream/base/ and data/downstream/train.jsonl; writes data/downstream/adapter/
(peft's adapter, adapter.gguf for llama.cpp when the base is a GGUF, training.json) and the loss per
step for `dvc plots show downstream/dvc.yaml`. The folder is built aside and moved into place only
when complete, so Ctrl-C or a failure leaves the previous adapter, never half of one.
"""

import shutil
import sys
from pathlib import Path

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_csv, write_json
from synthempathy.core.params import load_params
from synthempathy.core.records import Pair
from synthempathy.downstream import lora_gguf
from synthempathy.downstream.adapter import GGUF_FILE, TRAINING_FILE
from synthempathy.downstream.base_model import read_source, replace_folder, resolve_base, training_folder
from synthempathy.downstream.train import report, train_lora
from synthempathy.generation.prompts import load_template


@stage(reads=("base", "train"), writes=("out", "loss"))
def main(files: Files) -> None:
    params = load_params().downstream
    source = read_source(files.base)
    pairs = read_records(files.train, Pair)
    template = load_template(params.prompt, {"explanation"})
    out = Path(files.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        examples = [(p.explanation, p.response) for p in pairs]
        trained = train_lora(training_folder(files.base, params.base_model), examples, template, params, tmp,
                             base_name=source.name)
        if source.kind == "gguf":
            lora_gguf.convert(tmp, Path(resolve_base(params.base_model).path), tmp / GGUF_FILE)
        write_json(tmp / TRAINING_FILE, {
            "base": {"kind": source.kind, "name": source.name, "sha256": source.sha256},
            "prompt": params.prompt, "prompt_sha256": template.sha256,
            "pairs": len(pairs), "examples": trained.examples, "cut": trained.cut,
            "response_tokens": trained.response_tokens, "steps": len(trained.losses),
            "params": params.model_dump(include={"seed", "lora", "train"}),
        })
        replace_folder(tmp, out)
    except KeyboardInterrupt:
        print(f"\ntrain: interrupted; {files.out} is as it was before this run", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_csv(files.loss, ("step", "loss"), enumerate(trained.losses, 1))
    report(trained)


if __name__ == "__main__":
    main()
