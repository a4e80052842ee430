"""A survey's questions and what counts as an answer to each: plain rules, no I/O.

Kinds: a single choice, a multiple choice, a 1-5 scale, a number, a short text. A question may carry
a `key` the plan's analysis reads (bot/services/surveys_findings.py): "competence" (a 1-5 scale of
ICT competence), "needs_training", "internet", "device", "paper_code", "equipment" and so on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Kind = Literal["single", "multi", "scale", "number", "text"]
KINDS: tuple[Kind, ...] = ("single", "multi", "scale", "number", "text")
CHOICE_KINDS: frozenset[str] = frozenset({"single", "multi"})
SCALE = (1, 2, 3, 4, 5)
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_QUESTIONS = 30
MAX_TITLE = 120
MAX_QUESTION = 300
MAX_OPTION = 60  # a button's text
MAX_TEXT_ANSWER = 500
MAX_NUMBER = 1_000_000
# Audiences: every holder of a role ("staff": every staff role), the pupils of a class, the parents of
# a class ("*": of every class).
AudienceKind = Literal["role", "class", "parents"]


@dataclass(frozen=True)
class Question:
    kind: Kind
    text: str
    options: tuple[str, ...] = ()
    key: str = ""
    optional: bool = False
    # The choices that need the school's attention (an answer "Нет" to "internet at home"): the
    # analysis counts (and, in a named survey, names) who chose them. Indices into `choices`.
    attention: tuple[int, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        """What the buttons offer: the options, or 1..5 on a scale."""
        if self.kind == "scale":
            return tuple(str(n) for n in SCALE)
        return self.options

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.options:
            out["options"] = list(self.options)
        if self.key:
            out["key"] = self.key
        if self.optional:
            out["optional"] = True
        if self.attention:
            out["attention"] = list(self.attention)
        return out

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Question:
        return Question(d["kind"], d["text"], tuple(d.get("options", ())), d.get("key", ""), bool(d.get("optional")),
                        tuple(d.get("attention", ())))


@dataclass(frozen=True)
class SurveySpec:
    title: str
    questions: tuple[Question, ...]
    intro: str = ""
    plan_item: str | None = None
    anonymous: bool = False
    about_family: bool = False  # a survey about a child or a family: child personal data
    audience: tuple[AudienceKind, str] | None = None  # the template's suggestion
    name: str | None = None  # the shipped template's file stem
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"intro": self.intro, "about_family": self.about_family,
                "questions": [q.to_dict() for q in self.questions]}

    def required(self) -> list[int]:
        return [i for i, q in enumerate(self.questions) if not q.optional]


def questions_of(spec: dict[str, Any]) -> list[Question]:
    return [Question.from_dict(q) for q in spec.get("questions", [])]


def choice_value(question: Question, index: int) -> int | None:
    """A pressed option's index, or None when the question has no such option (a forged button)."""
    if question.kind not in ("single", "scale") or not 0 <= index < len(question.choices):
        return None
    return index


def toggle(question: Question, current: list[int] | None, index: int) -> list[int] | None:
    """A multiple choice's selection after pressing option `index`; None for a forged index."""
    if question.kind != "multi" or not 0 <= index < len(question.options):
        return None
    chosen = set(current or [])
    chosen ^= {index}
    return sorted(chosen)


def parse_number(text: str) -> float | None:
    """A typed number ("12", "3,5", " 7 "): None when it is not one, or out of range."""
    cleaned = text.strip().replace(",", ".").replace(" ", "").replace("\u00a0", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        return None
    return int(value) if value.is_integer() else value


def parse_text(text: str) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned if 0 < len(cleaned) <= MAX_TEXT_ANSWER else None


def is_answered(question: Question, value: Any) -> bool:
    if question.kind == "multi":
        return isinstance(value, list) and bool(value)
    return value is not None


def finished(questions: list[Question], answers: dict[int, Any]) -> bool:
    return all(q.optional or is_answered(q, answers.get(i)) for i, q in enumerate(questions))


def first_open(questions: list[Question], answers: dict[int, Any]) -> int | None:
    """The first question not yet answered (resuming a stopped survey), or None."""
    for i, q in enumerate(questions):
        if not is_answered(q, answers.get(i)) and not (q.optional and i in answers):
            return i
    return None


def share(part: int, whole: int) -> int:
    """A share in whole percent."""
    return round(100 * part / whole) if whole else 0


# A class or role group smaller than this is never shown, nor kept on an anonymous survey's answers.
MIN_GROUP = 5


@dataclass(frozen=True)
class SurveyRow:
    id: int
    title: str
    template: str | None
    spec: dict[str, Any]
    plan_item: str | None
    audience: str
    audience_value: str
    anonymous: bool
    data_class: str
    author_id: int | None
    created_at: datetime
    deadline: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Respondent:
    survey_id: int
    person_id: int
    role: str
    class_label: str | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Answer:
    question: int
    value: Any
    role: str | None
    class_label: str | None
    sheet: str
    person_id: int | None = None  # a named (or still open) survey's; None once anonymised or purged
