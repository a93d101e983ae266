"""Chat templates (generation/chat.py) and chat-answer hygiene (generation/hygiene.py), no model."""

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import load_params
from synthempathy.generation.chat import load_chat_template, render
from synthempathy.generation.hygiene import chat_markers, tidy_chat

from conftest import ROOT

GEMMA = ("{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
         "else 'user' %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
         "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
"""Gemma's template in short (the system turn becomes a user turn here)."""
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
"""SmolLM2-135M-Instruct's template, as its GGUF holds it."""

PARAMS = load_params(ROOT / "params.yaml")
SHIPPED = {  # every chat prompt params.yaml names, with its stage's fields
    PARAMS.seeds.chat_prompt: {"category": "work", "examples": "Situation: A deadline moved up."},
    PARAMS.brainstorm.chat_prompt: {"situation": "A landlord raised the rent."},
    PARAMS.rewrite.chat_prompt: {"story": "Maria opened the letter."},
    PARAMS.respond.chat_prompt: {"explanation": "I lost my job today.", "guidance": ""},
    PARAMS.respond.chat_direct_prompt: {"explanation": "I lost my job today."},
    PARAMS.judge.chat_prompt: {"explanation": "I lost my job.", "response": "That sounds hard."},
}


@pytest.mark.parametrize("jinja, bos, eos", [(GEMMA, "<bos>", "<eos>"), (CHATML, "", "<|im_end|>")])
@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_every_shipped_chat_prompt_renders_with_a_prefix_shared_by_every_item(path, jinja, bos, eos):
    values = SHIPPED[path]
    template = load_chat_template(ROOT / path, set(values))
    one = render(jinja, bos, eos, template.messages(values), template.answer)
    other = render(jinja, bos, eos, template.messages({k: v + " Then more." for k, v in values.items()}),
                   template.answer + " fear")
    assert one.chat and one.prefix and one.prefix == other.prefix  # the examples are evaluated once
    assert all(text in one.prefix for _, text in template.turns if "\n" not in text)  # every earlier turn
    first_value = next(v for v in values.values() if v)
    assert first_value in one.suffix and first_value not in one.prefix
    assert one.suffix.endswith(("<start_of_turn>model\n", "<|im_start|>assistant\n")[jinja is CHATML]
                               + template.answer)
    assert other.suffix.endswith(template.answer + " fear")
    assert template.answer == {"seeds": "Situation:", "brainstorm": "Story:", "rewrite": "Explanation:",
                               "respond": "Emotion:", "respond_direct": "Response:",
                               "judge": "Scores:"}[path.rsplit("/", 1)[1].removesuffix(".txt")]


def test_chat_prompt_files_are_parsed_into_turns(tmp_path):
    path = tmp_path / "task.txt"
    path.write_text("[system]\nBe kind.\n\n[user]\nHi\n[assistant]\nLabel: hello\n\n[user]\nText: ${text}\n"
                    "[assistant]\nLabel:\n")
    template = load_chat_template(path, {"text"})
    assert template.turns == (("system", "Be kind."), ("user", "Hi"), ("assistant", "Label: hello"))
    assert (template.item, template.answer) == ("Text: ${text}", "Label:")
    assert template.messages({"text": "a $5 bill"})[-1] == {"role": "user", "content": "Text: a $5 bill"}
    assert len(template.sha256) == 64


@pytest.mark.parametrize("text, problem", [
    ("Hello\n[user]\n${text}\n", r"task\.txt:1: text before the first turn"),
    ("[user]\nExample ${text}\n[assistant]\nA\n[user]\n${text}\n", r"task\.txt:2: \$\{text\} outside the item's \[user\]"),
    ("[user]\n${text}\n[assistant]\nLabel ${text}\n", r"task\.txt:4: \$\{text\} outside the item's \[user\]"),
    ("[user]\nA\n[user]\n${text}\n", r"task\.txt:3: \[user\] where a \[assistant\] turn belongs"),
    ("[system]\nS\n[assistant]\nA\n[user]\n${text}\n", r"task\.txt:3: \[assistant\] where a \[user\] turn belongs"),
    ("[user]\n${text}\n[assistant]\nA\n[assistant]\nB\n", r"task\.txt: the item's turn is missing"),
    ("[system]\n\n[user]\n${text}\n", r"task\.txt:1: the \[system\] turn is empty"),
    ("[user]\n${txet}\n", r"task\.txt:2: unknown placeholder \$\{txet\}"),
    # a conversation of steps (emotion, cause, then the last step)
    ("[user]\n${text}\n[assistant]\nLabel: ${cause}\n[user]\nWhy?\n", r"task\.txt:3: .* must end with \$\{emotion\}"),
    ("[user]\n${text}\n[assistant]\n${emotion} then\n[user]\nWhy?\n", r"task\.txt:3: .* must end with \$\{emotion\}"),
    ("[user]\n${text}\n[assistant]\nA\n[user]\nWhy?\n", r"task\.txt:3: .* must end with \$\{emotion\}"),
    ("[user]\n${text}\n[assistant]\n${emotion}\n[user]\nWhy ${emotion}?\n",
     r"task\.txt:6: \$\{emotion\} outside the item's \[user\] turn \(a step's question"),
    ("[user]\n${text}\n[assistant]\n${emotion}\n[user]\nWhy?\n", r"task\.txt:5: the conversation answers 1 of"),
    ("[user]\nA\n[assistant]\n${text}\n[user]\nB\n", r"task\.txt:3: the item's fields belong in a \[user\] turn"),
])
def test_chat_prompt_errors_name_file_and_line(tmp_path, text, problem):
    path = tmp_path / "task.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=problem):
        load_chat_template(path, {"text"}, ["emotion", "cause"])


def test_a_template_that_writes_the_item_first_shares_only_what_comes_before_it():
    last_first = ("{% for message in messages|reverse %}{{ message['role'] + ': ' + message['content'] + '\n' }}"
                  "{% endfor %}")
    prompt = render(last_first, "", "", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "")
    assert (prompt.prefix, prompt.suffix) == ("user: ", "b\nuser: a\n")


def test_chat_markers_come_from_the_models_template():
    assert chat_markers(CHATML, "", "<|im_end|>") == ("<|im_end|>", "<|im_start|>")
    assert chat_markers(GEMMA, "<bos>", "<eos>") == ("<bos>", "<end_of_turn>", "<eos>", "<start_of_turn>")
    assert chat_markers("[INST] {{ messages[0]['content'] }} [/INST]", "<s>", "</s>") == ("</s>", "<s>", "[/INST]",
                                                                                          "[INST]")


@pytest.mark.parametrize("raw, tidy", [
    ("Sure! Here is a story about Maria:\nMaria opened the letter.", "Maria opened the letter."),
    ("Here's the retelling:\n\nI opened the letter.", "I opened the letter."),
    ("Certainly.\nI opened the letter.", "I opened the letter."),
    ("Assistant: I opened the letter.", "I opened the letter."),
    ('"I opened the letter and I was scared."', "I opened the letter and I was scared."),
    ("\u201cI opened the letter.\u201d", "I opened the letter."),
    ('"Hi," she said. "Bye."', '"Hi," she said. "Bye."'),  # quotes inside are the text's own
    ("**I opened the letter.** It was __bad__.", "I opened the letter. It was bad."),
    ("## My story\nI opened the letter.", "My story\nI opened the letter."),
    ("I opened the letter.<|im_end|>\n<|im_start|>user\nThanks!", "I opened the letter."),
    ("I opened the letter.<end_of_turn>", "I opened the letter."),
    ("Sure", "Sure"),  # a preamble is only dropped when an answer follows it
    ("I am sure it will be fine.", "I am sure it will be fine."),
])
def test_assistant_wrapping_is_removed_from_chat_answers(raw, tidy):
    markers = chat_markers(CHATML, "", "<|im_end|>") + chat_markers(GEMMA, "<bos>", "<eos>")
    assert tidy_chat(raw, markers) == tidy


@pytest.mark.parametrize("jinja, bos, eos", [(GEMMA, "<bos>", "<eos>"), (CHATML, "", "<|im_end|>")])
def test_a_conversation_of_steps_asks_each_step_in_its_own_turn(jinja, bos, eos):
    template = load_chat_template(ROOT / "prompts/chat/respond_turns.txt", {"explanation", "guidance"},
                                  ["emotion", "cause"])
    assert [(r.field, r.begin) for r in template.replies] == [("emotion", "Emotion:"), ("cause", "Cause:")]
    assert template.answer == "Response:" and [template.begin(n) for n in range(3)] == [
        "Emotion:", "Cause:", "Response:"]
    values = {"explanation": "I lost my job today.", "guidance": ""}
    prompts = []
    for answers in ([], [" fear"], [" fear", " The layoff came without warning."]):
        messages = template.messages(values, answers)
        assert messages[len(template.turns)] == {"role": "user", "content": template.item.replace(
            "${guidance}Explanation: ${explanation}", "Explanation: I lost my job today.")}
        assert messages[-1]["role"] == "user" and len(messages) == len(template.turns) + 1 + 2 * len(answers)
        prompts.append(render(jinja, bos, eos, messages, template.begin(len(answers)), len(template.turns)))
    assert prompts[1].messages == () and "Emotion: fear" in prompts[1].suffix
    assert prompts[2].suffix.endswith(template.replies[1].question + ("<end_of_turn>\n<start_of_turn>model\n",
                                      "<|im_end|>\n<|im_start|>assistant\n")[jinja is CHATML] + "Response:")
    assert len({p.prefix for p in prompts}) == 1 and "I lost my job" not in prompts[0].prefix  # examples shared
    # a step's prompt extends the one before it and its answer, so a slot keeps what it evaluated
    assert prompts[1].text.startswith(prompts[0].text + " fear")
    assert prompts[2].text.startswith(prompts[1].text + " The layoff came without warning.")
