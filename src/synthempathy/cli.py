"""The `synthempathy` command. The pipeline itself runs through `dvc repro`;
this covers what happens around it: planning a run, releases, serving a GGUF
for `llm.backend: openai` with the same CPU safeguards as the in-process backend, and
fetching detoxify's weights for a machine without internet."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from synthempathy.core.entry_point import entry_point
from synthempathy.core.errors import UserError
from synthempathy.core.params import DETOXIFY_LABELS
from synthempathy.generation.llm import amx_workaround
from synthempathy.release import RELEASE_CORPUS, release


@entry_point
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="synthempathy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser(
        "release", help="tag the current corpus as a release: card, SFT export, git tag, dvc push",
        description="Write release/ (corpus, SFT export, dataset card), dvc push, commit and tag corpus-vVERSION. "
                    "Refuses a dirty tree, a stale pipeline or an existing tag.",
    )
    rel.add_argument("version", help="MAJOR.MINOR.PATCH, e.g. 0.3.0 (tag: corpus-v0.3.0)")
    rel.add_argument("-r", "--remote", help="DVC remote to push to (default: the project's default remote)")
    srv = commands.add_parser(
        "serve", help="python -m llama_cpp.server, loading the model the way the pipeline does (AMX-safe)",
        description="Run llama-cpp-python's OpenAI-compatible server, passing it every argument but --cpu-repack "
                    "(e.g. --model x.gguf --port 8080; see python -m llama_cpp.server --help), after the "
                    "llm.cpu_repack decision: "
                    "on a CPU with AMX the model loads without repacked/AMX weights, which would crash with SIGILL.",
    )
    srv.add_argument("--cpu-repack", choices=list(amx_workaround.SETTINGS), default="auto",
                     help="as llm.cpu_repack in params.yaml (default: auto)")
    pln = commands.add_parser(
        "plan", help="requests, tokens and hours each stage will take with the current params",
        description="Estimate the run params.yaml describes, from the last metrics (tokens, retries and keep rate "
                    "per item) and the speeds the request cache recorded. Runs nothing.",
    )
    pln.add_argument("--pairs", type=int, help="scale the plan to this many kept pairs (the paper: 105578)")
    pln.add_argument("--tok-per-s", type=float, help="generated tokens per second to assume for every stage")
    exp = commands.add_parser(
        "export-detoxify", help="download a detoxify checkpoint and its tokenizer config, for offline use",
        description="On a machine with internet: save a detoxify checkpoint and its Hugging Face config and "
                    "tokenizer under --out, and print the filter.toxicity settings that load them offline.",
    )
    exp.add_argument("--model", default="original", choices=sorted(DETOXIFY_LABELS))
    exp.add_argument("--out", default="models/detoxify")
    args, rest = parser.parse_known_args(argv)
    if args.command == "export-detoxify":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from synthempathy.quality.toxicity import export_offline_detoxify

        checkpoint, config = export_offline_detoxify(args.model, args.out)
        print(f"filter.toxicity.checkpoint: {checkpoint}\nfilter.toxicity.huggingface_config_path: {config}")
        return
    if args.command == "plan":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        print_plan(args.pairs, args.tok_per_s)
        return
    if args.command == "serve":
        serve(args.cpu_repack, rest)  # every other argument is llama_cpp.server's
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    tag = release(args.version, remote=args.remote)
    print(f"released {tag}: {RELEASE_CORPUS} and the pipeline's data pushed to the DVC remote. "
          "Publish the tag with: git push --follow-tags", file=sys.stderr)


def print_plan(pairs: int | None, tok_per_s: float | None) -> None:
    from synthempathy.core.params import load_params
    from synthempathy.plan import make_plan, render

    if pairs is not None and pairs < 1:
        raise UserError(f"--pairs must be at least 1 (got {pairs})")
    if tok_per_s is not None and tok_per_s <= 0:
        raise UserError(f"--tok-per-s must be positive (got {tok_per_s:g})")
    params = load_params()
    print(render(make_plan(params, pairs=pairs, tok_per_s=tok_per_s)))


def serve(cpu_repack: str, server_args: list[str]) -> None:
    """Run llama_cpp.server in this process, every model load under the cpu_repack decision."""
    from llama_cpp.server.__main__ import main as server_main

    decision = amx_workaround.decide_here(amx_workaround.SETTINGS[cpu_repack])
    print(f"synthempathy serve: repacked CPU weights {'on' if decision.enabled else 'off'}: {decision.reason}",
          file=sys.stderr)
    sys.argv = ["python -m llama_cpp.server", *server_args]
    with amx_workaround.load_context(decision):  # held until the server exits: it may load models at any time
        server_main()


if __name__ == "__main__":
    main()
