"""Stage 2, rewrite: each story becomes a first-person explanation (paper mean 95.5 words).

Reads data/stories/stories.jsonl, writes data/explanations/explanations.jsonl.
"""

from synthempathy.core.jsonl import read_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import EXPLANATION_REJECTS, EXPLANATIONS, STORIES, metrics_of
from synthempathy.core.records import Explanation, Story
from synthempathy.core.entry_point import entry_point
from synthempathy.generation.driver import Item, Step
from synthempathy.generation.generating_stage import GenerationStage, run_generation

IN = STORIES
OUT, REJECTS, METRICS = EXPLANATIONS, EXPLANATION_REJECTS, metrics_of("rewrite")


@entry_point
def main() -> None:
    params = load_params()
    stories = read_records(IN, Story)
    stage = GenerationStage.of(
        params.rewrite,
        name="rewrite",
        variables={"story"},
        steps=(Step("explanation"),),
        build=lambda story, item, fields, prov: Explanation(
            **story.model_dump(exclude={"provenance"}), explanation=fields["explanation"], provenance=prov
        ),
    )
    inputs = [(s, Item(id=s.id, values={"story": s.story})) for s in stories]
    run_generation(stage, params, inputs, OUT, REJECTS, METRICS)


if __name__ == "__main__":
    main()
