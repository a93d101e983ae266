"""The respond stage's steps: Chain-of-Empathy, or the direct baseline.

The model names the emotion, reasons about its cause, then responds, each step led in by its
label, and all three are kept in the pair. The respond template ends at "Emotion:"; the cause
and the response are led in by "Cause:" and "Response:". The baseline's template ends at
"Response:". Here, not in stages/respond.py, because tests and benchmarks run the same steps.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from synthempathy.core.params import RespondParams
from synthempathy.generation.choice import load_choices
from synthempathy.generation.driver import Step

CHAIN_OF_EMPATHY = (
    Step("emotion", single_line=True),
    Step("cause", "\nCause:", single_line=True),
    Step("response", "\nResponse:"),
)
DIRECT = (Step("response"),)


def respond_steps(respond: RespondParams, root: Path = Path(".")) -> tuple[Step, ...]:
    """The steps the stage runs: Chain-of-Empathy, its emotion named from respond.emotion_list when
    that is on, or the direct baseline."""
    if not respond.chain_of_empathy:
        return DIRECT
    emotion, *rest = CHAIN_OF_EMPATHY
    if not respond.use_emotion_list:
        return CHAIN_OF_EMPATHY
    return (replace(emotion, choices=load_choices(root / respond.emotion_list, "respond.emotion_list")), *rest)
