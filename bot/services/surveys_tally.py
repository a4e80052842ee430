"""A survey's answers counted: per question, and per class and per role (an anonymous survey keeps
no group of fewer than MIN_GROUP answers). Pure: the results service reads, this counts, the
workbook and the chart draw."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bot.domain.people import class_sort_key
from bot.domain.surveys import MIN_GROUP, Answer, Question, SurveyRow, share


@dataclass(frozen=True)
class QuestionResult:
    index: int
    question: Question
    answered: int
    counts: list[tuple[str, int, int]]  # (choice, count, share %) of a choice or a scale
    numbers: tuple[int, float, float, float, float] | None = None  # n, mean, median, min, max
    texts: int = 0  # how many typed a text (the texts themselves: `texts` for the author only)


@dataclass(frozen=True)
class GroupResult:
    name: str  # a class label or a role; "" for answers kept without one
    sheets: int
    questions: list[QuestionResult]


@dataclass
class Results:
    survey: SurveyRow
    respondents: int
    finished: int
    sheets: int  # how many people answered at least one question
    hidden: bool  # anonymous, and open or fewer than MIN_GROUP: nothing but the counts is shown
    questions: list[QuestionResult] = field(default_factory=list)
    by_class: list[GroupResult] = field(default_factory=list)
    by_role: list[GroupResult] = field(default_factory=list)
    groups_hidden: int = 0  # classes or roles left out for having fewer than MIN_GROUP answers
    classes_hidden: int = 0  # of them, classes (the workbook says so on the sheet they are missing from)


def tally(questions: list[Question], answers: list[Answer]) -> list[QuestionResult]:
    by_q: dict[int, list[Any]] = defaultdict(list)
    for a in answers:
        if a.value is not None:
            by_q[a.question].append(a.value)
    out = []
    for i, q in enumerate(questions):
        values = by_q.get(i, [])
        if q.kind in ("single", "multi", "scale"):
            counts = [0] * len(q.choices)
            for v in values:
                for choice in v if isinstance(v, list) else [v - 1 if q.kind == "scale" else v]:
                    if isinstance(choice, int) and 0 <= choice < len(counts):
                        counts[choice] += 1
            out.append(QuestionResult(i, q, len(values), [(c, n, share(n, len(values)))
                                                          for c, n in zip(q.choices, counts, strict=True)]))
        elif q.kind == "number":
            nums = [float(v) for v in values if isinstance(v, int | float)]
            stats = (len(nums), statistics.fmean(nums), statistics.median(nums), min(nums), max(nums)) if nums else None
            out.append(QuestionResult(i, q, len(nums), [], stats))
        else:
            out.append(QuestionResult(i, q, len(values), [], None, len(values)))
    return out


def group_results(
    questions: list[Question], answers: list[Answer], attr: str, *, anonymous: bool
) -> tuple[list[GroupResult], int]:
    grouped: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        grouped[getattr(a, attr) or ""].append(a)
    out, hidden = [], 0
    keys = sorted(grouped, key=class_sort_key) if attr == "class_label" else sorted(grouped)
    for name in keys:
        rows = grouped[name]
        sheets = len({a.sheet for a in rows})
        if anonymous and sheets < MIN_GROUP:
            hidden += 1
            continue
        out.append(GroupResult(name, sheets, tally(questions, rows)))
    return out, hidden
