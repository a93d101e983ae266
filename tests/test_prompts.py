import pytest

from synthempathy.core.errors import UserError
from synthempathy.generation.prompts import load_template

from conftest import ROOT


def test_render_splits_static_prefix_at_line_of_first_placeholder(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Instructions.\n\nExample: x\n\nStory: ${story}\nExplanation:")
    tpl = load_template(path, {"story"})
    a, b = tpl.render(story="one"), tpl.render(story="two two")
    assert a.prefix == b.prefix == "Instructions.\n\nExample: x\n\n"
    assert a.suffix == "Story: one\nExplanation:"
    assert a.text == "Instructions.\n\nExample: x\n\nStory: one\nExplanation:"


def test_dollar_escape_and_sha(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Costs $$5.\n${story}")
    tpl = load_template(path, {"story"})
    assert tpl.render(story="s").text == "Costs $5.\ns"
    assert len(tpl.sha256) == 64
    path.write_text("Costs $$6.\n${story}")
    assert load_template(path, {"story"}).sha256 != tpl.sha256


def test_unknown_placeholder_names_file_and_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("line one\nline two ${storey}\n")
    with pytest.raises(UserError, match=r"t\.txt:2: unknown placeholder \$\{storey\}"):
        load_template(path, {"story"})


def test_stray_dollar_and_missing_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("${story} costs $ 5")
    with pytest.raises(UserError, match=r"t\.txt:1: stray '\$'"):
        load_template(path, {"story"})
    with pytest.raises(UserError, match="prompt template not found"):
        load_template(tmp_path / "nope.txt", {"story"})


@pytest.mark.parametrize("name, var", [("brainstorm", "situation"), ("rewrite", "story"), ("respond", "explanation")])
def test_shipped_templates_end_with_item_and_share_prefix(name, var):
    tpl = load_template(ROOT / "prompts" / f"{name}.txt", {var, "guidance"})
    prompt = tpl.render(**{var: "VALUE", "guidance": ""})
    assert "###" in prompt.prefix  # few-shot examples live in the reusable prefix
    assert "VALUE" in prompt.suffix and "VALUE" not in prompt.prefix


@pytest.mark.parametrize("path, variables, ending", [
    ("prompts/brainstorm.txt", {"situation"}, None),
    ("prompts/rewrite.txt", {"story"}, None),
    ("prompts/respond.txt", {"explanation", "guidance"}, "Emotion:"),  # CoE steps continue from here
    ("prompts/respond_direct.txt", {"explanation"}, "Response:"),
    ("prompts/judge.txt", {"explanation", "response"}, "Scores:"),
])
def test_shipped_prompts_use_their_stage_fields_and_end_where_generation_starts(path, variables, ending):
    template = load_template(ROOT / path, variables)
    assert template.placeholders == variables
    rendered = template.render(**{v: f"<{v}>" for v in variables})
    assert all(f"<{v}>" in rendered.suffix for v in variables) and "<" not in rendered.prefix
    if ending:
        assert rendered.text.rstrip().endswith(ending)


def test_a_missing_or_empty_grammar_names_its_param_and_file(tmp_path):
    from synthempathy.core.errors import UserError
    from synthempathy.generation.prompts import load_grammar

    with pytest.raises(UserError, match=r"^params.yaml: judge.grammar: \S+nope.gbnf: grammar file not found$"):
        load_grammar(tmp_path / "nope.gbnf", "judge.grammar")
    (tmp_path / "empty.gbnf").write_text("\n")
    with pytest.raises(UserError, match=r"rewrite.grammar: \S+empty.gbnf: grammar file is empty"):
        load_grammar(tmp_path / "empty.gbnf", "rewrite.grammar")
