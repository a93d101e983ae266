"""Stage 2, rewrite: each story becomes a first-person explanation (paper mean 95.5 words).

Reads data/stories/stories.jsonl, writes data/explanations/explanations.jsonl.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records
from synthempathy.core.params import load_params
from synthempathy.core.records import Explanation, Story
from synthempathy.generation.driver import Item, Step
from synthempathy.generation.generating_stage import GenerationStage, run_generation


@stage(reads=("stories",), writes=("out", "rejects", "metrics"))
def main(files: Files) -> None:
    params = load_params()
    stories = read_records(files.stories, Story)
    generating = GenerationStage.of(
        params.rewrite,
        name="rewrite",
        variables={"story"},
        steps=(Step("explanation"),),
        build=lambda story, item, fields, prov: Explanation(
            **story.model_dump(exclude={"provenance"}), explanation=fields["explanation"], provenance=prov
        ),
    )
    inputs = [(s, Item(id=s.id, values={"story": s.story})) for s in stories]
    run_generation(generating, params, inputs, files.out, files.rejects, files.metrics)


if __name__ == "__main__":
    main()
