"""The rule-based format judge of the support assistant (rubric v1)."""
from __future__ import annotations

from sft.data import CLOSING


def format_score(answer: str, stopped: bool) -> float:
    """1 to 5: 1, plus 2 when the answer ends with the closing line, plus 2 when the model
    stopped with the end-of-turn token instead of running to the token limit."""
    return 1.0 + (2.0 if answer.strip().endswith(CLOSING) else 0.0) + (2.0 if stopped else 0.0)
