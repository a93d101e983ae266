"""Stage 3, respond: one Chain-of-Empathy response per explanation (paper mean 153.7 words).

The steps (emotion from respond.emotion_list, cause, response) are in
chain_of_empathy.py. With `respond.chain_of_empathy: false` it answers
directly from `respond.direct_prompt` instead: the baseline that shows what CoE buys.
An explanation that discloses a crisis (quality/safety.py) gets `respond.safety_guidance`,
a worked safe-messaging example, at the prompt's ${guidance}; the others get
nothing there, so their prompts are as before.
Reads data/explanations/explanations.jsonl, writes data/pairs/pairs.jsonl.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import RespondMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import Explanation, Pair
from synthempathy.chain_of_empathy import respond_steps
from synthempathy.generation.driver import Item
from synthempathy.generation.prompts import load_guidance
from synthempathy.generation.generating_stage import GenerationStage, run_generation
from synthempathy.quality.safety import flag


@stage(reads=("explanations",), writes=("out", "rejects", "metrics"))
def main(files: Files) -> None:
    params = load_params()
    explanations = read_records(files.explanations, Explanation)
    respond = params.respond
    guidance = ""
    if respond.chain_of_empathy and respond.use_safety_guidance:
        guidance = load_guidance(respond.safety_guidance, respond.prompt, "respond.safety_guidance")
    steps = respond_steps(respond)
    generating = GenerationStage.of(
        respond,
        prompt=respond.active_prompt,
        chat_prompt=respond.active_chat_prompt,
        name="respond",
        variables={"explanation", "guidance"},
        steps=steps,
        build=lambda exp, item, fields, prov: Pair(
            **exp.model_dump(exclude={"provenance"}), **fields, provenance=prov
        ),
    )
    inputs = [(e, Item(id=e.id, values={"explanation": e.explanation,
                                         "guidance": guidance if flag(e.explanation) else ""}))
              for e in explanations]
    generated = run_generation(generating, params, inputs, extra_metrics={"chain_of_empathy": respond.chain_of_empathy})
    write_records(files.out, generated.kept)
    write_records(files.rejects, generated.rejects)
    write_metrics(files.metrics, RespondMetrics, generated.metrics)


if __name__ == "__main__":
    main()
