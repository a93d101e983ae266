"""Stage 3, respond: one Chain-of-Empathy response per explanation (paper mean 153.7 words).

The model names the emotion, reasons about its cause, then responds, each
step led in by its label; all three are kept in the pair. With
`respond.chain_of_empathy: false` it answers directly from
`respond.direct_prompt` instead: the baseline that shows what CoE buys.
An explanation that discloses a crisis (quality/safety.py) gets `respond.safety_guidance`,
a worked safe-messaging example, at the prompt's ${guidance}; the others get
nothing there, so their prompts are as before.
Reads data/explanations/explanations.jsonl, writes data/pairs/pairs.jsonl.
"""

from dataclasses import replace
from pathlib import Path

from synthempathy.core.jsonl import read_records
from synthempathy.core.params import RespondParams, load_params
from synthempathy.core.paths import EXPLANATIONS, PAIR_REJECTS, PAIRS, metrics_of
from synthempathy.core.records import Explanation, Pair
from synthempathy.core.stage import entry_point
from synthempathy.generation.generate import Item, Step
from synthempathy.generation.prompts import load_grammar, load_guidance
from synthempathy.generation.run import GenerationStage, run_generation
from synthempathy.quality.safety import flag

IN = EXPLANATIONS
# The template ends at "Emotion:"; the cause and the response are led in by their labels.
CHAIN_OF_EMPATHY = (
    Step("emotion", single_line=True),
    Step("cause", "\nCause:", single_line=True),
    Step("response", "\nResponse:"),
)
# The baseline template ends at "Response:".
DIRECT = (Step("response"),)
OUT, REJECTS, METRICS = PAIRS, PAIR_REJECTS, metrics_of("respond")


def respond_steps(respond: RespondParams, root: Path = Path(".")) -> tuple[Step, ...]:
    """The steps this stage runs: Chain-of-Empathy, its emotion step held to respond.emotion_grammar
    when that is on, or the direct baseline. (Benchmarks and tests take them from here too.)"""
    if not respond.chain_of_empathy:
        return DIRECT
    emotion, *rest = CHAIN_OF_EMPATHY
    grammar = load_grammar(root / respond.emotion_grammar, "respond.emotion_grammar") if respond.use_emotion_grammar else None
    return (replace(emotion, grammar=grammar), *rest)


@entry_point
def main() -> None:
    params = load_params()
    explanations = read_records(IN, Explanation)
    respond = params.respond
    guidance = ""
    if respond.chain_of_empathy and respond.use_safety_guidance:
        guidance = load_guidance(respond.safety_guidance, respond.prompt, "respond.safety_guidance")
    steps = respond_steps(respond)
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
