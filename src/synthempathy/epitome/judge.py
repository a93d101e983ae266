"""The EPITOME judge: an LLM scores each response for the three empathy mechanisms.

EPITOME (Sharma et al., 2020), as used by the SYNTHEMPATHY paper, rates
Emotional Reaction, Interpretation and Exploration 0 (none), 1 (weak) or
2 (strong). The judge's output is forced into the JSON schema of
`EpitomeScores` by a llama.cpp grammar derived from that schema, so every
answer parses; one that still fails validation is retried with a new seed
and, after `llm.max_attempts`, counted as failed, never defaulted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from synthempathy.core.records import EpitomeScores, Judgement
from synthempathy.generation.driver import Step
from synthempathy.generation.generating_stage import GenerationStage

if TYPE_CHECKING:
    from synthempathy.core.params import Params

def epitome_grammar() -> str:
    """GBNF text for EpitomeScores' JSON schema (what LlamaGrammar.from_json_schema builds)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(EpitomeScores.model_json_schema()))


def judgement_problem(fields: dict[str, str]) -> str | None:
    """Why the judge's answer is not a valid EpitomeScores object, or None when it is."""
    try:
        EpitomeScores.model_validate_json(fields["scores"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        return f"{where}: {first['msg']} in {fields['scores'][:120]!r}"
    return None


def judge_stage(params: Params, category: Callable[[Any], str]) -> GenerationStage:
    """The judge as a generation stage: judge.prompt over (explanation, response), judge.model with
    every other llm setting shared, answers forced into EpitomeScores JSON and validated, each
    turned into a Judgement with the item's id and `category(input record)`.
    Used for the corpus (stages/judge.py) and for calibration against humans (stages/calibration/)."""
    def build(record: Any, item: Any, fields: dict[str, str], provenance: dict) -> Judgement:
        scores = EpitomeScores.model_validate_json(fields["scores"])
        return Judgement(id=item.id, category=category(record), **scores.model_dump(), provenance=provenance["judge"])

    return GenerationStage(
        name="judge",
        variables={"explanation", "response"},
        steps=(Step("scores"),),
        build=build,
        section=params.judge,
        prompt=params.judge.prompt,
        chat_prompt=params.judge.chat_prompt,
        grammar=epitome_grammar(),
        llm=params.judge_llm,
        check=judgement_problem,
    )
