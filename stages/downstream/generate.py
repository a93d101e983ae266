"""Downstream 4, generate: base and tuned model answer every held-out prompt, same seeded decoding.

Reads data/downstream/prompts.jsonl, the base (downstream.base_model, data/downstream/base/) and the
adapter; writes data/downstream/responses.jsonl, each prompt's base answer, then its tuned one, with
provenance (the tuned model's identity holds the adapter's sha256). Refuses an adapter trained on
another base. Calls go through the request cache, so a rerun or a resumed run is served from it.
"""

from pathlib import Path

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.params import load_params
from synthempathy.core.records import HeldOutPrompt
from synthempathy.downstream.adapter import check_base
from synthempathy.downstream.answer import answer
from synthempathy.downstream.base_model import resolve_base, resolve_device, training_folder


@stage(reads=("base", "adapter", "prompts"), writes=("out",))
def main(files: Files) -> None:
    params = load_params()
    source = resolve_base(params.downstream.base_model)
    check_base(files.adapter, source)
    prompts = read_records(files.prompts, HeldOutPrompt)
    device = resolve_device(params.downstream.device) if source.kind == "hf" else "cpu"
    answers = answer(prompts, params, source, training_folder(files.base, params.downstream.base_model),
                     Path(files.adapter), device)
    write_records(files.out, answers)


if __name__ == "__main__":
    main()
