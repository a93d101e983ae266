"""The EPITOME judge: schema-derived grammar, validation, retries and score statistics."""

import json

import pytest

from synthempathy.core.params import JudgeParams, LlamaCppParams
from synthempathy.core.records import EpitomeScores, Judgement
from synthempathy.epitome.judge import epitome_grammar, judgement_problem
from synthempathy.epitome.scores import epitome_stats
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.llm import make_backend
from synthempathy.generation.prompts import load_template

from conftest import ROOT
from fakes import provenance

LLM = LlamaCppParams(n_ctx=1024, n_threads=2, max_attempts=2)
PAIRS = [
    ("I lost my job on Friday and I have no idea how to tell my wife.",
     "I'm so sorry, losing your job so suddenly must be a shock. What worries you most about telling her?"),
    ("My exam results came out and I failed maths again.", "Okay. Study harder next time."),
]


def judge(check=judgement_problem, max_attempts=2):
    params = JudgeParams()
    template = load_template(ROOT / params.prompt, {"explanation", "response"})
    llm = LLM.model_copy(update={"max_attempts": max_attempts})
    backend, cache = make_backend(llm), RequestCache()
    items = [Item(id=f"p{i}", values={"explanation": e, "response": r}) for i, (e, r) in enumerate(PAIRS)]
    try:
        gen = Generator("judge", template, params, llm, backend, cache, (Step("scores"),), epitome_grammar(), check)
        return gen.run(items), gen.stats
    finally:
        backend.close()
        cache.close()


def test_grammar_comes_from_the_schema_and_llama_cpp_accepts_it():
    from llama_cpp import LlamaGrammar

    grammar = epitome_grammar()
    for name in ("emotional_reaction", "interpretation", "exploration"):
        assert f'\\"{name}\\"' in grammar
    LlamaGrammar.from_string(grammar, verbose=False)  # raises on a malformed grammar


def test_judgement_problem_names_what_is_wrong():
    assert judgement_problem({"scores": '{"emotional_reaction": 2, "interpretation": 0, "exploration": 1}'}) is None
    problem = judgement_problem({"scores": '{"emotional_reaction": 3, "interpretation": 0, "exploration": 1}'})
    assert problem.startswith("emotional_reaction: ")
    assert "exploration" in judgement_problem({"scores": '{"emotional_reaction": 1, "interpretation": 0}'})
    assert judgement_problem({"scores": "not json"}).startswith("answer: ")


@pytest.mark.model
def test_real_judge_answers_always_validate():
    outcomes, stats = judge()
    assert stats.model_calls == 2 and stats.rejected == {}
    for outcome in outcomes:
        scores = EpitomeScores.model_validate_json(outcome.fields["scores"])
        assert all(v in (0, 1, 2) for v in scores.model_dump().values())
        assert outcome.provenance.grammar_sha256 and outcome.provenance.prompt.endswith("prompts/judge.txt")


@pytest.mark.model
def test_invalid_judgement_is_retried_then_counted_failed_not_defaulted():
    outcomes, stats = judge(check=lambda fields: "always wrong", max_attempts=3)
    assert all(o.fields is None and o.reason == "invalid" and o.detail == "always wrong" for o in outcomes)
    assert stats.model_calls == 2 * 3 and stats.retries == 2 * 2
    assert stats.rejected == {"invalid": 2}


def judgement(er, ip, ex):
    prov = provenance()
    return Judgement(id="x", category="c", emotional_reaction=er, interpretation=ip, exploration=ex, provenance=prov)


def test_epitome_stats_values():
    stats = epitome_stats([judgement(2, 1, 0), judgement(0, 1, 2)])
    assert stats["ER"] == {"mean": 1.0, "std": 1.0}
    assert stats["IP"] == {"mean": 1.0, "std": 0.0}
    assert stats["EX"] == {"mean": 1.0, "std": 1.0}
    assert stats["total"] == {"mean": 3.0, "std": 0.0}
    assert epitome_stats([])["total"] == {"mean": 0.0, "std": 0.0}


def test_judgement_rejects_out_of_range_scores():
    with pytest.raises(ValueError):
        judgement(3, 0, 0)
    assert json.loads(judgement(1, 1, 1).model_dump_json())["emotional_reaction"] == 1
