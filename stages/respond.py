"""Stage 3, respond: one Chain-of-Empathy response per explanation (paper mean 153.7 words).

The model names the emotion, reasons about its cause, then responds, each
step led in by its label; all three are kept in the pair. With
`respond.chain_of_empathy: false` it answers directly from
`respond.direct_prompt` instead: the baseline that shows what CoE buys.
An explanation that discloses a crisis (safety.py) gets `respond.safety_guidance`,
a worked safe-messaging example, at the prompt's ${guidance}; the others get
nothing there, so their prompts are as before.
Reads data/explanations/explanations.jsonl, writes data/pairs/pairs.jsonl.
"""

from dataclasses import replace

from synthempathy.generate import Item, Step
from synthempathy.jsonl import read_records
from synthempathy.params import load_params
from synthempathy.prompts import load_grammar, load_guidance
from synthempathy.records import Explanation, Pair
from synthempathy.safety import flag
from synthempathy.stage import GenerationStage, entry_point, run_generation

IN = "data/explanations/explanations.jsonl"
# The template ends at "Emotion:"; the cause and the response are led in by their labels.
CHAIN_OF_EMPATHY = (
    Step("emotion", single_line=True),
    Step("cause", "\nCause:", single_line=True),
    Step("response", "\nResponse:"),
)
# The baseline template ends at "Response:".
DIRECT = (Step("response"),)
OUT, REJECTS, METRICS = "data/pairs/pairs.jsonl", "data/pairs/rejects.jsonl", "metrics/respond.json"


@entry_point
def main() -> None:
    params = load_params()
    explanations = read_records(IN, Explanation)
    respond = params.respond
    steps, guidance = DIRECT, ""
    if respond.chain_of_empathy:
        if respond.safety_guidance:
            guidance = load_guidance(respond.safety_guidance, respond.prompt, "respond.safety_guidance")
        emotion, *rest = CHAIN_OF_EMPATHY
        grammar = load_grammar(respond.emotion_grammar, "respond.emotion_grammar") if respond.emotion_grammar else None
        steps = (replace(emotion, grammar=grammar), *rest)
    stage = GenerationStage.of(
        respond,
        prompt=respond.active_prompt,
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
    run_generation(stage, params, inputs, OUT, REJECTS, METRICS,
                   extra_metrics={"chain_of_empathy": respond.chain_of_empathy})


if __name__ == "__main__":
    main()
