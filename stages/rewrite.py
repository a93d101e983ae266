"""Stage 2, rewrite: each story becomes a first-person explanation (paper mean 95.5 words).

Reads data/stories/stories.jsonl, writes data/explanations/explanations.jsonl.
"""

from synthempathy.generate import Item, Step
from synthempathy.jsonl import read_records
from synthempathy.params import load_params
from synthempathy.records import Explanation, Story
from synthempathy.stage import GenerationStage, entry_point, run_generation

IN = "data/stories/stories.jsonl"
OUT, REJECTS, METRICS = "data/explanations/explanations.jsonl", "data/explanations/rejects.jsonl", "metrics/rewrite.json"


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
