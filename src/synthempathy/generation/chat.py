"""Chat templates: a task as an instruct model was trained to take it.

A chat prompt file (prompts/chat/*.txt) is a conversation: lines `[system]`, `[user]` and
`[assistant]` each start a turn. Instructions go in the system turn, few-shot examples are
earlier user/assistant turns, and the item is the last user turn, the only one that may hold
${placeholders}. A final `[assistant]` turn, when there is one, is how the answer begins (for
example "Emotion:"): the model continues it, so a multi-part answer such as Chain-of-Empathy
keeps its labelled shape, and later steps' lead-ins extend it as in a completion template.

Why the placeholders only go in the last user turn: every earlier turn is then the same for
every item, so the rendered conversation up to the item's text is a byte-identical prefix that
the backends evaluate once and reuse (generation/prompts.py), and an item's output never
depends on its neighbours.

A multi-step task (Chain-of-Empathy) can instead be a conversation of its steps: after the item's
turn, an `[assistant]` turn ending in a step's field (`Emotion: ${emotion}`) stands for that step's
answer, and the `[user]` turn after it asks for the next step. Each step is then its own call on
the conversation so far, and the item's turn stays the last one that differs between items.

In process the conversation is rendered with the GGUF's own template (`render`); a server gets
it as `messages` and applies its template itself (llm/openai_server.py).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.generation.prompts import Prompt, placeholder_names, read_template_text

ROLES = ("system", "user", "assistant")
_MARKER = re.compile(r"^\[(system|user|assistant)\]\s*$")
_SLOT = re.compile(r"\$(?:(\w+)|\{(\w+)\})\s*$")


@dataclass(frozen=True)
class Reply:
    """In a conversation of steps: where a step's answer goes, and the question after it."""

    field: str
    begin: str
    """How the step's answer begins (the slot's text before `${field}`)."""
    question: str
    """The user turn that asks for the next step."""


@dataclass(frozen=True)
class ChatTemplate:
    path: str
    text: str
    turns: tuple[tuple[str, str], ...]
    """(role, text) of every turn before the item's, the same for all items."""
    item: str
    """The item's user turn, with the placeholders."""
    answer: str
    """How the (last step's) answer begins ("" when the model starts it)."""
    replies: tuple[Reply, ...] = ()
    """The earlier steps as turns after the item's; empty when the steps share one answer."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def messages(self, values: dict[str, str], answers: Sequence[str] = ()) -> list[dict[str, str]]:
        """The conversation for one item up to its user turn or, given the first steps' answers
        (a conversation of steps), up to the question for the step after them."""
        conversation = [{"role": role, "content": text} for role, text in self.turns]
        conversation.append({"role": "user", "content": string.Template(self.item).substitute(values)})
        for reply, answer in zip(self.replies, answers, strict=False):
            conversation += [{"role": "assistant", "content": reply.begin + answer},
                             {"role": "user", "content": reply.question}]
        return conversation

    def begin(self, step: int) -> str:
        """How the answer to step `step` (from 0) begins."""
        return self.replies[step].begin if step < len(self.replies) else self.answer


def load_chat_template(path: str | Path, variables: set[str], steps: Sequence[str] = ()) -> ChatTemplate:
    """Read and check a chat prompt file; errors name file:line. `steps`: a multi-step task's fields
    before its last, which a conversation of steps answers in turns (`${emotion}`)."""
    text = read_template_text(path, variables | set(steps))
    turns: list[tuple[str, int, list[str]]] = []  # role, line of its marker, lines
    for number, line in enumerate(text.splitlines(), 1):
        marker = _MARKER.match(line)
        if marker:
            turns.append((marker.group(1), number, []))
        elif turns:
            turns[-1][2].append(line)
        elif line.strip():
            raise UserError(f"{path}:{number}: text before the first turn (start it with [system] or [user])")
    parsed = [(role, at, "\n".join(lines).strip("\n")) for role, at, lines in turns]
    answer = ""
    if parsed and parsed[-1][0] == "assistant":
        _, at, answer = parsed.pop()
        _no_placeholders(path, at, answer, "the answer's beginning is the same for every item")
    if not parsed or parsed[-1][0] != "user":
        raise UserError(f"{path}: the item's turn is missing (end with a [user] turn holding the placeholders, "
                        "then optionally an [assistant] turn with how the answer begins)")
    expected = "user"
    for index, (role, at, body) in enumerate(parsed):
        if not body.strip():
            raise UserError(f"{path}:{at}: the [{role}] turn is empty")
        if role == "system" and index == 0:
            continue
        if role != expected:
            raise UserError(f"{path}:{at}: [{role}] where a [{expected}] turn belongs (after an optional [system], "
                            "user and assistant turns alternate)")
        expected = "assistant" if role == "user" else "user"
    # the item's turn: the last that holds the stage's own fields (later ones are steps' answers and questions)
    holding = [i for i, (_, _, body) in enumerate(parsed) if placeholder_names(body) - set(steps)]
    item_at = holding[-1] if holding else len(parsed) - 1
    role, at, _ = parsed[item_at]
    if role != "user":
        raise UserError(f"{path}:{at}: the item's fields belong in a [user] turn, not an [{role}] one")
    for _, at, body in parsed[:item_at]:
        _no_placeholders(path, at, body, "earlier turns are the prefix every item shares")
    later = parsed[item_at + 1:]
    replies = tuple(_reply(path, slot, question, steps, number)
                    for number, (slot, question) in enumerate(zip(later[::2], later[1::2])))
    if replies and len(replies) != len(steps):
        raise UserError(f"{path}:{parsed[-1][1]}: the conversation answers {len(replies)} of the steps before the "
                        f"last ({', '.join(steps)}): give each its [assistant] turn, or none for one answer")
    return ChatTemplate(path=Path(path).as_posix(), text=text,
                        turns=tuple((role, body) for role, _, body in parsed[:item_at]), item=parsed[item_at][2],
                        answer=answer, replies=replies)


def _reply(path: str | Path, slot: tuple[str, int, str], question: tuple[str, int, str], steps: Sequence[str],
           number: int) -> Reply:
    """A step's answer turn (`How it begins ${field}`) and the question after it."""
    _, at, body = slot
    match = _SLOT.search(body)
    wanted = steps[number] if number < len(steps) else None
    if match is None or placeholder_names(body[:match.start()]) or (match.group(1) or match.group(2)) != wanted:
        expected = f"end with ${{{wanted}}}, step {number + 1}'s answer" if wanted else (
            "be the last (this task has no more steps to answer as turns)")
        raise UserError(f"{path}:{at}: an [assistant] turn after the item's must {expected}")
    _no_placeholders(path, question[1], question[2], "a step's question is the same for every item")
    return Reply(field=wanted, begin=body[:match.start()].rstrip(" "), question=question[2])


def _no_placeholders(path: str | Path, at: int, body: str, why: str) -> None:
    for match in string.Template.pattern.finditer(body):
        if match.group("named") or match.group("braced"):
            line = at + 1 + body.count("\n", 0, match.start())
            raise UserError(f"{path}:{line}: ${{{match.group('named') or match.group('braced')}}} outside the "
                            f"item's [user] turn ({why})")


def render(jinja: str, bos: str, eos: str, messages: list[dict[str, str]], answer: str,
           item: int | None = None) -> Prompt:
    """The conversation as text in the model's chat template, the answer's beginning after it.

    The static prefix is what the template writes before the item's turn (`item`, the index in
    `messages`; the last turn when None): found by rendering two different texts there and keeping
    what they share, so it holds every earlier turn and the item turn's opening markers, whatever
    the template.
    """
    def text(messages: list[dict[str, str]]) -> str:
        return apply_template(jinja, bos, eos, messages)

    item = len(messages) - 1 if item is None else item
    full = text(messages) + answer
    probes = [text(messages[:item] + [{"role": "user", "content": probe}]) for probe in ("\ue000", "\ue001")]
    shared = next((i for i, (a, b) in enumerate(zip(*probes)) if a != b), 0)
    if full[:shared] != probes[0][:shared]:  # a template that moves earlier turns with the item: no prefix
        shared = 0
    return Prompt(prefix=full[:shared], suffix=full[shared:], chat=True)


def apply_template(jinja: str, bos: str, eos: str, messages: list[dict[str, str]]) -> str:
    """`messages` in the model's Jinja chat template, ending with the assistant's turn opened."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=jinja, eos_token=eos, bos_token=bos)(messages=messages).prompt
