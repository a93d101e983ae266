"""Stage 1, brainstorm: N short stories per stressor seed (paper: 20 per seed).

Reads data/seeds/stressors.yaml, writes data/stories/stories.jsonl with exact
duplicates (after normalisation) moved to data/stories/rejects.jsonl.
"""

from synthempathy.generate import Item, Step
from synthempathy.params import load_params
from synthempathy.quality import dedupe_field
from synthempathy.records import Story
from synthempathy.seeds import load_seeds, select_seeds
from synthempathy.stage import GenerationStage, entry_point, run_generation

SEEDS = "data/seeds/stressors.yaml"
OUT, REJECTS, METRICS = "data/stories/stories.jsonl", "data/stories/rejects.jsonl", "metrics/brainstorm.json"


@entry_point
def main() -> None:
    params = load_params()
    seeds = select_seeds(load_seeds(SEEDS), params.scale)
    inputs = [
        (seed, Item(id=f"{seed.id}-{n:02d}", values={"situation": seed.situation}))
        for seed in seeds
        for n in range(params.scale.stories_per_seed)
    ]
    stage = GenerationStage.of(
        params.brainstorm,
        name="brainstorm",
        variables={"situation"},
        steps=(Step("story"),),
        build=lambda seed, item, fields, prov: Story(
            id=item.id, seed_id=seed.id, category=seed.category,
            situation=seed.situation, story=fields["story"], provenance=prov,
        ),
    )
    run_generation(stage, params, inputs, OUT, REJECTS, METRICS, postprocess=dedupe_field("story", "brainstorm"),
                   extra_metrics={"seeds": len(seeds)})


if __name__ == "__main__":
    main()
