"""Stage 2, rewrite: each story becomes a first-person explanation (paper mean 95.5 words).

Reads data/stories/stories.jsonl, writes data/explanations/explanations.jsonl.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import GenerationMetrics, write_metrics
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
    generated = run_generation(generating, params, inputs)
    write_records(files.out, generated.kept)
    write_records(files.rejects, generated.rejects)
    write_metrics(files.metrics, GenerationMetrics, generated.metrics)


if __name__ == "__main__":
    main()
