"""What the surveys and acknowledgements found, for plan item 18's analysis (bot/services/analysis.py):
the staff's ICT competence and who needs training (item 1.1), equipment gaps per classroom (items 1.2,
1.3, 2), families without internet or a device and who needs a paper code (items 11, 14), training
feedback (items 12-14), and the acknowledgement coverage of each document; and the next year's tasks
drafted from them.

A question's `key` says what it measures and its `attention` choices what needs the school's help
(content/surveys/*.toml). Names are given only from named surveys; an anonymous one gives counts, and
nothing at all below five answers. Free text never enters the analysis.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.domain.surveys import MIN_GROUP, Question, SurveyRow, questions_of, share
from bot.i18n import Translator
from bot.services.repos import AckCampaigns, People, Surveys

if TYPE_CHECKING:
    from bot.unit_of_work import UnitOfWork

# The keys the analysis reads, by what they tell.
COMPETENCE = "competence"
TRAINING_KEYS = ("needs_training", "journal_experience")
EQUIPMENT_KEYS = ("workplace", "room_internet", "equipment_missing", "access")
FAMILY_KEYS = ("internet", "device", "email", "messenger")
PAPER_CODE = "paper_code"
FEEDBACK_KEYS = ("training_useful", "training_confident")
ROOM = "room"
NAMES_SHOWN = 15


@dataclass(frozen=True)
class Finding:
    """One question's answers that need attention: how many of how many, and (named) who."""

    survey: str
    key: str
    text: str
    attention: int
    answered: int
    names: list[str] = field(default_factory=list)
    choices: list[tuple[str, int]] = field(default_factory=list)  # the attention choices and their counts

    @property
    def pct(self) -> int:
        return share(self.attention, self.answered)


@dataclass(frozen=True)
class AckLine:
    title: str
    plan_item: str | None
    confirmed: int
    total: int

    @property
    def pct(self) -> int:
        return share(self.confirmed, self.total)


@dataclass
class Findings:
    competence: list[tuple[str, float, list[int], int]] = field(default_factory=list)  # survey, mean, 1..5, n
    training: list[Finding] = field(default_factory=list)
    equipment: list[Finding] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)  # classrooms with an equipment gap (named surveys)
    families: list[Finding] = field(default_factory=list)
    paper_code: list[Finding] = field(default_factory=list)
    feedback: list[Finding] = field(default_factory=list)
    acks: list[AckLine] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.competence or self.training or self.equipment or self.families or self.paper_code
                    or self.feedback or self.acks)


def _is_attention(q: Question, value: Any) -> bool:
    if value is None:
        return False
    if q.kind == "multi":
        return any(i in q.attention for i in value)
    if q.kind == "scale":
        return (value - 1) in q.attention
    return value in q.attention


@dataclass(kw_only=True, eq=False)
class SurveyFindings:
    ack_repo: AckCampaigns
    db: UnitOfWork
    people: People
    survey_repo: Surveys

    async def _finding(self, survey: SurveyRow, index: int, q: Question, by_sheet: dict[str, dict[int, Any]],
                       owners: dict[str, int]) -> Finding:
        values = {sheet: answers[index] for sheet, answers in by_sheet.items() if answers.get(index) is not None}
        flagged = [sheet for sheet, v in values.items() if _is_attention(q, v)]
        names: list[str] = []
        if not survey.anonymous:
            people = await self.people.get_many(owners[s] for s in flagged if s in owners)
            names = sorted(p.full_name for p in people)
        counts: dict[int, int] = defaultdict(int)
        for v in values.values():
            for i in v if isinstance(v, list) else [v - 1 if q.kind == "scale" else v]:
                if i in q.attention:
                    counts[i] += 1
        choices = [(q.choices[i], counts[i]) for i in q.attention if i < len(q.choices)]
        return Finding(survey.title, q.key, q.text, len(flagged), len(values), names, choices)

    async def collect(self) -> Findings:
        found = Findings()
        repo = self.survey_repo
        for survey in await repo.all():
            answers = await repo.answers(survey.id)
            by_sheet: dict[str, dict[int, Any]] = defaultdict(dict)
            for a in answers:
                by_sheet[a.sheet][a.question] = a.value
            # An anonymous survey counts once closed, and only with five answers or more (as its results).
            if survey.anonymous and (len(by_sheet) < MIN_GROUP or survey.closed_at is None):
                continue
            owners = {} if survey.anonymous else {a.sheet: a.person_id for a in answers if a.person_id is not None}
            questions = questions_of(survey.spec)
            keys = {q.key: i for i, q in enumerate(questions) if q.key}
            for i, q in enumerate(questions):
                if q.key == COMPETENCE and q.kind == "scale":
                    scores = [v for sheet in by_sheet.values() if isinstance(v := sheet.get(i), int)]
                    if scores:
                        dist = [scores.count(n) for n in range(1, 6)]
                        found.competence.append((survey.title, sum(scores) / len(scores), dist, len(scores)))
                if not q.attention:
                    continue
                bucket = (found.training if q.key in TRAINING_KEYS else found.equipment if q.key in EQUIPMENT_KEYS
                          else found.families if q.key in FAMILY_KEYS else found.paper_code if q.key == PAPER_CODE
                          else found.feedback if q.key in FEEDBACK_KEYS else None)
                if bucket is not None:
                    bucket.append(await self._finding(survey, i, q, by_sheet, owners))
            if ROOM in keys and not survey.anonymous:
                gaps = [i for i, q in enumerate(questions) if q.key in EQUIPMENT_KEYS and q.attention]
                for sheet in by_sheet.values():
                    room = sheet.get(keys[ROOM])
                    if room and any(_is_attention(questions[i], sheet.get(i)) for i in gaps):
                        found.rooms.append(str(room))
        found.rooms = sorted(set(found.rooms), key=lambda r: (len(r), r))
        acks = self.ack_repo
        for campaign in await acks.all():
            targets = await acks.targets(campaign.id)
            done = await acks.confirmations(campaign.id)
            found.acks.append(AckLine(campaign.title, campaign.plan_item, sum(t.person_id in done for t in targets),
                                      len(targets)))
        return found


# --- how the analysis shows them -------------------------------------------------------------------


def _names(f: Finding, t: Translator) -> str:
    if not f.names:
        return ""
    shown = ", ".join(f.names[:NAMES_SHOWN])
    more = len(f.names) - NAMES_SHOWN
    return t("surveys.findings.names", names=shown) + (t("surveys.findings.more", n=more) if more > 0 else "")


def _choices(f: Finding) -> str:
    return "; ".join(f"«{c}» — {n}" for c, n in f.choices if n)


def lines(f: Findings, t: Translator) -> list[tuple[str, str, str]]:
    """(part, what, value) rows: the PDF's section and the XLSX report's sheet."""
    out: list[tuple[str, str, str]] = []
    for title, mean, dist, n in f.competence:
        low = dist[0] + dist[1]
        out.append((t("surveys.findings.part.competence"), title,
                    t("surveys.findings.competence", mean=f"{mean:.1f}".replace(".", ","), n=n,
                      dist=" / ".join(str(x) for x in dist), low=low)))
    for part, items in (("training", f.training), ("equipment", f.equipment), ("families", f.families),
                        ("paper_code", f.paper_code), ("feedback", f.feedback)):
        for item in items:
            out.append((t(f"surveys.findings.part.{part}"), item.text,
                        t("surveys.findings.attention", n=item.attention, total=item.answered, pct=item.pct)
                        + (f": {_choices(item)}" if _choices(item) else "") + _names(item, t)))
    if f.rooms:
        out.append((t("surveys.findings.part.equipment"), t("surveys.findings.rooms_label"), ", ".join(f.rooms)))
    for a in f.acks:
        suffix = t("surveys.findings.item", n=a.plan_item) if a.plan_item else ""
        out.append((t("surveys.findings.part.acks"), a.title + suffix,
                    t("surveys.findings.ack", confirmed=a.confirmed, total=a.total, pct=a.pct)))
    return out


def tasks(f: Findings, t: Translator) -> list[str]:
    """The next year's tasks the findings call for (the IT officer edits the draft)."""
    out: list[str] = []
    trainees = sorted({n for item in f.training if item.key == "needs_training" for n in item.names})
    low = sum(dist[0] + dist[1] for _, _, dist, _ in f.competence)
    if trainees:
        out.append(t("surveys.findings.task.training_names", n=len(trainees), names=", ".join(trainees[:10])))
    elif low or any(item.attention for item in f.training):
        out.append(t("surveys.findings.task.training"))
    if f.rooms:
        out.append(t("surveys.findings.task.rooms", rooms=", ".join(f.rooms)))
    elif any(item.attention for item in f.equipment):
        out.append(t("surveys.findings.task.equipment"))
    no_internet = sum(item.attention for item in f.families if item.key in ("internet", "device"))
    if no_internet:
        out.append(t("surveys.findings.task.families", n=no_internet))
    paper = sum(item.attention for item in f.paper_code)
    if paper:
        out.append(t("surveys.findings.task.paper", n=paper))
    for a in f.acks:
        if a.total and a.pct < 100:
            out.append(t("surveys.findings.task.ack", title=a.title, pct=a.pct))
    return out
