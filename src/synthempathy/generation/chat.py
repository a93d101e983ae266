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

In process the conversation is rendered with the GGUF's own template (`render`); a server gets
it as `messages` and applies its template itself (llm/openai_server.py).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.generation.prompts import Prompt, read_template_text

ROLES = ("system", "user", "assistant")
_MARKER = re.compile(r"^\[(system|user|assistant)\]\s*$")


@dataclass(frozen=True)
class ChatTemplate:
    path: str
    text: str
    turns: tuple[tuple[str, str], ...]
    """(role, text) of every turn before the item's, the same for all items."""
    item: str
    """The last user turn, with the placeholders."""
    answer: str
    """How the assistant's answer begins ("" when the model starts it)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def messages(self, **values: str) -> list[dict[str, str]]:
        """The conversation for one item, up to and including its user turn."""
        item = string.Template(self.item).substitute(values)
        return [{"role": role, "content": text} for role, text in self.turns] + [{"role": "user", "content": item}]


def load_chat_template(path: str | Path, variables: set[str]) -> ChatTemplate:
    """Read and check a chat prompt file; errors name file:line."""
    text = read_template_text(path, variables)
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
        if index < len(parsed) - 1:
            _no_placeholders(path, at, body, "earlier turns are the prefix every item shares")
    *static, (_, _, item) = parsed
    return ChatTemplate(path=Path(path).as_posix(), text=text,
                        turns=tuple((role, body) for role, _, body in static), item=item, answer=answer)


def _no_placeholders(path: str | Path, at: int, body: str, why: str) -> None:
    for match in string.Template.pattern.finditer(body):
        if match.group("named") or match.group("braced"):
            line = at + 1 + body.count("\n", 0, match.start())
            raise UserError(f"{path}:{line}: ${{{match.group('named') or match.group('braced')}}} outside the "
                            f"last [user] turn ({why})")


def render(jinja: str, bos: str, eos: str, messages: list[dict[str, str]], answer: str) -> Prompt:
    """The conversation as text in the model's chat template, the answer's beginning after it.

    The static prefix is what the template writes before the last user turn's text: found by
    rendering two different texts there and keeping what they share, so it holds every earlier
    turn and the last turn's opening markers, whatever the template.
    """
    def text(messages: list[dict[str, str]]) -> str:
        return apply_template(jinja, bos, eos, messages)

    full = text(messages) + answer
    probes = [text(messages[:-1] + [{"role": "user", "content": probe}]) for probe in ("\ue000", "\ue001")]
    shared = next((i for i, (a, b) in enumerate(zip(*probes)) if a != b), 0)
    if full[:shared] != probes[0][:shared]:  # a template that moves earlier turns with the item: no prefix
        shared = 0
    return Prompt(prefix=full[:shared], suffix=full[shared:], chat=True)


def apply_template(jinja: str, bos: str, eos: str, messages: list[dict[str, str]]) -> str:
    """`messages` in the model's Jinja chat template, ending with the assistant's turn opened."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=jinja, eos_token=eos, bos_token=bos)(messages=messages).prompt
