"""Prompt templates: files under prompts/, `${name}` placeholders.

A template is split into a static prefix (everything up to the line holding
the first placeholder: instructions and few-shot examples) and a per-item
suffix. Backends evaluate the prefix once and reuse it for every item, and keep
it byte-identical across items, which is both faster and what makes outputs
independent of the order items are generated in.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.errors import UserError


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: `prefix` is shared by all items of a template."""

    prefix: str
    suffix: str
    cuts: tuple[int, ...] = ()
    """Offsets in `suffix` where a step's prompt ends that a later step extends (Chain-of-Empathy's
    cause and response steps extend the emotion step's prompt): the earlier steps' ends and, when
    a step follows, this prompt's own end. A backend that keeps an item's evaluated prompt between
    its steps evaluates each piece on its own, so the reused and the recomputed paths do the same
    arithmetic; backends that do not may ignore them."""

    chat: bool = False
    """Already a conversation in the model's chat template (generation/chat.py), sent as it is."""
    messages: tuple[tuple[str, str], ...] = ()
    """For a server's chat endpoint: the conversation as (role, text); a last assistant turn is the
    answer so far, which the server continues. `text` is then only the request cache's view of it."""

    @property
    def text(self) -> str:
        return self.prefix + self.suffix

    def pieces(self) -> list[str]:
        """`suffix` split at `cuts` (the last piece is empty when the suffix ends at a cut)."""
        bounds = [0, *self.cuts, len(self.suffix)]
        return [self.suffix[a:b] for a, b in zip(bounds, bounds[1:])]


@dataclass(frozen=True)
class Template:
    path: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def placeholders(self) -> set[str]:
        return placeholder_names(self.text)

    def render(self, **values: str) -> Prompt:
        """Fill the placeholders; the split point never depends on the values."""
        cut = self._split_at()
        tpl_prefix, tpl_suffix = self.text[:cut], self.text[cut:]
        return Prompt(
            prefix=string.Template(tpl_prefix).substitute(),
            suffix=string.Template(tpl_suffix).substitute(values),
        )

    def _split_at(self) -> int:
        match = string.Template.pattern.search(self.text)
        while match is not None and match.group("escaped") is not None:
            match = string.Template.pattern.search(self.text, match.end())
        if match is None:
            return len(self.text)
        return self.text.rfind("\n", 0, match.start()) + 1


def placeholder_names(text: str) -> set[str]:
    """The ${names} in a template text ($$ is a literal dollar sign, not one)."""
    return {named or braced for _, named, braced, _ in string.Template.pattern.findall(text) if named or braced}


def load_grammar(path: str | Path, param: str) -> str:
    """Read a GBNF grammar file (checked by llama.cpp when the sampler is built);
    errors name the params.yaml key (`param`) that points at it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"params.yaml: {param}: {path}: grammar file not found") from None
    if not text.strip():
        raise UserError(f"params.yaml: {param}: {path}: grammar file is empty")
    return text


def read_template_text(path: str | Path, variables: set[str]) -> str:
    """A template file's text, each placeholder checked to be a field its stage provides."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: prompt template not found") from None
    found = False
    for match in string.Template.pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        name = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            raise UserError(f"{path}:{line}: stray '$' (write $$ for a literal dollar sign)")
        if name and name not in variables:
            raise UserError(
                f"{path}:{line}: unknown placeholder ${{{name}}} (this stage provides: {', '.join(sorted(variables))})"
            )
        found = found or bool(name)
    if not found:
        raise UserError(f"{path}: template uses none of the stage's fields ({', '.join(sorted(variables))})")
    return text


def load_template(path: str | Path, variables: set[str]) -> Template:
    """Read a template and check each placeholder is a field its stage provides."""
    return Template(path=Path(path).as_posix(), text=read_template_text(path, variables))


def load_guidance(path: str | Path, template: str | Path, param: str) -> str:
    """Text a stage inserts at its template's ${guidance} for some items; the template must have one."""
    text = Path(path).read_text(encoding="utf-8") if Path(path).exists() else None
    if not text:
        raise UserError(f"params.yaml: {param}: {path}: {'empty' if text == '' else 'file not found'}")
    if "${guidance}" not in Path(template).read_text(encoding="utf-8"):
        raise UserError(f"params.yaml: {param}: {template} has no ${{guidance}} placeholder to put it at "
                        f"(add one just before the item's text, or set {param}: null)")
    return text
