"""Stage 1, brainstorm: N short stories per stressor seed (paper: 20 per seed).

Reads the seed set (data/taxonomy/seeds.jsonl, from the seeds stage), writes
data/stories/stories.jsonl with exact and near duplicates moved to
data/stories/rejects.jsonl.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import BrainstormMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import Seed, Story
from synthempathy.generation.driver import Item, Step
from synthempathy.generation.generating_stage import GenerationStage, run_generation
from synthempathy.quality.dedupe import dedupe_field


@stage(reads=("seeds",), writes=("out", "rejects", "metrics"))
def main(files: Files) -> None:
    params = load_params()
    seeds = read_records(files.seeds, Seed)
    inputs, position = [], {}
    for i, seed in enumerate(seeds):
        for n in range(params.scale.stories_per_seed):
            item = Item(id=f"{seed.id}-{n:02d}", values={"situation": seed.situation})
            inputs.append((seed, item))
            position[item.id] = (n, i)
    generating = GenerationStage.of(
        params.brainstorm,
        name="brainstorm",
        variables={"situation"},
        steps=(Step("story"),),
        build=lambda seed, item, fields, prov: Story(
            id=item.id, seed_id=seed.id, category=seed.category,
            situation=seed.situation, story=fields["story"], provenance=prov,
        ),
    )
    # Of two copies, the lower story number wins (then the earlier seed): raising
    # scale.stories_per_seed then never drops a story that was already kept.
    generated = run_generation(
        generating, params, inputs, extra_metrics={"seeds": len(seeds)},
        postprocess=dedupe_field("story", "brainstorm", priority=lambda story: position[story.id]))
    write_records(files.out, generated.kept)
    write_records(files.rejects, generated.rejects)
    write_metrics(files.metrics, BrainstormMetrics, generated.metrics)


if __name__ == "__main__":
    main()
