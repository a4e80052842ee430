"""What staff do with a task: mark it done with proof, snooze, review a proof, edit a
deadline or the responsible roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.access import EDITOR_ROLES, REVIEWER_ROLES
from bot.domain.calendar import deadline_words
from bot.domain.messages import Answer, Payload
from bot.domain.people import Person
from bot.domain.plan import Deadline, PlanItem, Proof
from bot.russian import Named
from bot.services.plan import ROLE_CODES
from bot.services.repos import People, PlanRecords
from bot.services.tasks import Snapshot, Task, esc, shorten, task_label
from bot.unit_of_work import Transaction

if TYPE_CHECKING:

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork


# --- actions -------------------------------------------------------------------------------------


class Refused(Exception):
    """The caller may not do this (or the object is gone); `key` is a catalog key for the answer."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class ProofInput:
    kind: str  # text, link, document, photo
    body: str | None
    file_id: str | None = None
    file_unique_id: str | None = None
    file_name: str | None = None


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def text_proof(text: str) -> ProofInput:
    return ProofInput(kind="link" if _LINK.search(text) else "text", body=text.strip()[:3000])


DATE_KINDS = frozenset({"date", "from_date", "month", "yearly_month"})
EDIT_KINDS = ("date", "month", "from_date", "each_quarter", "yearly_month", "whole_period", "per_event", "unset")


def parse_day(text: str) -> date | None:
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*", text)
    if not match:
        return None
    try:
        return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    except ValueError:
        return None


def make_deadline(kind: str, day: date | None, source: str) -> Deadline:
    if kind in ("date", "from_date"):
        return Deadline(kind=kind, date=day, year=None, month=None, source=source)
    if kind == "month":
        assert day is not None
        return Deadline(kind=kind, date=None, year=day.year, month=day.month, source=source)
    if kind == "yearly_month":
        assert day is not None
        return Deadline(kind=kind, date=None, year=None, month=day.month, source=source)
    return Deadline(kind=kind, date=None, year=None, month=None, source=source)


STAFF_EDIT_ROLES = tuple(r for r in ROLE_CODES if r not in ("parent", "student"))


@dataclass(kw_only=True, eq=False)
class TaskActions:
    """What staff do to a task: proofs, reviews, snoozes, date and text edits."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    people: People
    plan_repo: PlanRecords
    school: SchoolConfig
    tasks: TasksService


    async def checked_task(self, person: Person, number: str, key: str, *, responsible: bool) -> tuple[Snapshot, Task]:
        """The task a callback names, after checking the caller may see (or act on) it."""
        snap = await self.tasks.snapshot()
        task = snap.task(number, key)
        if task is None:
            raise Refused("tasks.gone")
        is_responsible = bool(person.roles & set(task.item.responsible))
        if responsible and not is_responsible:
            raise Refused("tasks.not_responsible")
        if not (is_responsible or person.roles & REVIEWER_ROLES):
            raise Refused("tasks.not_responsible")
        return snap, task

    async def submit_proof(self, person: Person, number: str, key: str, proof: ProofInput) -> int:
        return (await self.submit_proof_answered(person, number, key, proof))[0]

    async def submit_proof_answered(
        self, person: Person, number: str, key: str, proof: ProofInput, *, saved_lang: str | None = None,
    ) -> tuple[int, Answer | None]:
        """`submit_proof`; with ``saved_lang`` the submitter's confirmation («sent for review») is
        queued in the same transaction as the message's answer (`Outbox.answer`): they learn the proof
        went through even if the worker dies right after the commit, and do not send it twice (#27)."""
        snap, task = await self.checked_task(person, number, key, responsible=True)
        if snap.accepted(task):
            raise Refused("tasks.already_accepted")
        now = self.clock.now()
        reviewers = [p for p in snap.reviewers() if p.id != person.id and p.reachable]
        async with self.db.transaction() as conn:
            proof_id = await self.plan_repo.add_proof(
                conn,
                item_number=number,
                occurrence_key=key,
                person_id=person.id,
                kind=proof.kind,
                body=proof.body,
                file_id=proof.file_id,
                file_unique_id=proof.file_unique_id,
                file_name=proof.file_name,
                now=now,
            )
            # A file proof travels as the file itself (re-sent by its file_id), captioned and with the
            # review buttons under it: a reviewer must see what they accept, not only its name.
            with_file = proof.kind in ("document", "photo") and proof.file_id is not None
            # A caption holds 1024 characters: shorter excerpts there, cut before escaping.
            excerpt = 200 if with_file else 500
            for reviewer in reviewers:
                t = self.catalog.translator_for(reviewer)
                what = t(f"tasks.proof_kind.{proof.kind}")
                if proof.body:
                    what += f": {esc(shorten(proof.body, excerpt))}"
                elif proof.file_name:
                    what += f": {esc(shorten(proof.file_name, 100))}"
                text = t(
                    "tasks.review.new",
                    name=Named(shorten(person.full_name, 100), escape=True),
                    number=number,
                    label=task_label(task, t),
                    text=esc(shorten(task.item.text, excerpt if with_file else 300)),
                    deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                    what=what,
                )
                markup = self.buttons.proof_review(proof_id, t)
                await self.outbox.notify(
                    conn, reviewer,
                    key=f"task:proof:{proof_id}:{reviewer.id}",
                    kind="photo" if proof.kind == "photo" and with_file else "document" if with_file else "text",
                    payload=Payload(
                        text=text,
                        reply_markup=markup,
                        file_id=proof.file_id if with_file else None,
                    ),
                    now=now,
                    priority=4,
                )
            saved = None
            if saved_lang is not None:
                text = self.catalog.text(saved_lang, "tasks.proof_saved", number=number)
                saved = await self.outbox.answer(conn, person, key=f"proof-saved:{proof_id}",
                                                 payload=Payload(text=text), now=now)
        self.outbox.wake()
        return proof_id, saved

    async def review(self, reviewer: Person, proof_id: int, *, accept: bool, comment: str | None) -> Proof:
        if not reviewer.roles & REVIEWER_ROLES:
            raise Refused("tasks.review.not_allowed")
        repo = self.plan_repo
        proof = await repo.proof(proof_id)
        if proof is None:
            raise Refused("tasks.gone")
        if proof.status != "submitted":
            raise Refused("tasks.review.already")
        item = await repo.item(proof.item_number)
        submitter = await self.people.get(proof.person_id)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            ok = await self.plan_repo.review_proof(
                conn,
                proof_id,
                status="accepted" if accept else "returned",
                reviewer_id=reviewer.id,
                comment=comment,
                now=now,
            )
            if not ok:
                raise Refused("tasks.review.already")
            if submitter is not None and submitter.reachable and submitter.id != reviewer.id and item is not None:
                t = self.catalog.translator_for(submitter)
                key = "tasks.review.accepted" if accept else "tasks.review.returned"
                text = t(
                    key,
                    number=item.number,
                    text=esc(shorten(item.text, 300)),
                    name=Named(reviewer.full_name, escape=True),
                    comment=esc(comment or ""),
                )
                markup = None
                if not accept:
                    markup = self.buttons.task_returned(item.number, proof.occurrence_key, t)
                await self.outbox.notify(
                    conn, submitter,
                    key=f"task:review:{proof_id}",
                    kind="text",
                    payload=Payload(text=text, reply_markup=markup),
                    now=now,
                    priority=4,
                )
        self.outbox.wake()
        found = await repo.proof(proof_id)
        assert found is not None
        return found

    def next_working_morning(self, now: datetime) -> datetime:
        """Tomorrow's (or the next working day's) start of work."""
        tomorrow = self.school.calendar.local_date(now) + timedelta(days=1)
        cal = self.school.calendar
        return cal.send_window(cal.day_start(tomorrow))

    async def snooze(self, person: Person, number: str, key: str) -> datetime:
        _snap, task = await self.checked_task(person, number, key, responsible=True)
        now = self.clock.now()
        at = self.next_working_morning(now)
        async with self.db.transaction() as conn:
            await self.plan_repo.add_snooze(conn, number, task.key, person.id, at, now)
        return at

    async def _notify_change(
        self, conn: Transaction, snap: Snapshot, old: PlanItem, new: PlanItem, editor: Person, now: datetime
    ) -> None:
        affected: dict[int, Person] = {}
        for role in set(old.responsible) | set(new.responsible):
            for person in snap.by_role.get(role, []):
                affected.setdefault(person.id, person)
        stamp = now.strftime("%Y%m%d%H%M%S%f")
        for person in affected.values():
            if person.id == editor.id or not person.reachable:
                continue
            t = self.catalog.translator_for(person)
            still = bool(person.roles & set(new.responsible))
            text = t(
                "tasks.edit.notify" if still else "tasks.edit.notify_removed",
                number=new.number,
                text=esc(shorten(new.text, 300)),
                deadline=deadline_words(new.deadline, None, t.lang),
                roles=", ".join(t(f"roles.{r}") for r in new.responsible),
                name=esc(editor.full_name),
            )
            await self.outbox.notify(
                conn, person,
                key=f"task:edit:{new.number}:{stamp}:{person.id}",
                kind="text",
                payload=Payload(text=text),
                now=now,
            )

    async def set_deadline(self, editor: Person, number: str, kind: str, day: date | None) -> PlanItem:
        if not editor.roles & EDITOR_ROLES:
            raise Refused("tasks.edit.not_allowed")
        if kind not in EDIT_KINDS or (kind in DATE_KINDS) != (day is not None):
            raise Refused("tasks.edit.bad_kind")
        snap = await self.tasks.snapshot()
        old = snap.item(number)
        if old is None:
            raise Refused("tasks.gone")
        t = self.catalog.bind("ru")
        source = t("tasks.edit.source", when=self.clock.now().astimezone(self.school.tz).strftime("%d.%m.%Y"))
        deadline = make_deadline(kind, day, source)
        new = PlanItem(
            number=old.number,
            text=old.text,
            deadline=deadline,
            responsible=old.responsible,
            responsible_text=old.responsible_text,
            proof=old.proof,
        )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self.plan_repo.update_deadline(conn, number, deadline, now)
            await self._notify_change(conn, snap, old, new, editor, now)
        self.outbox.wake()
        return new

    async def set_roles(self, editor: Person, number: str, roles: list[str]) -> PlanItem:
        if not editor.roles & EDITOR_ROLES:
            raise Refused("tasks.edit.not_allowed")
        roles = [r for r in ROLE_CODES if r in set(roles)]
        if not roles:
            raise Refused("tasks.edit.no_roles")
        snap = await self.tasks.snapshot()
        old = snap.item(number)
        if old is None:
            raise Refused("tasks.gone")
        # People of newly added roles may not be in the snapshot yet.
        for role in roles:
            if role not in snap.by_role:
                snap.by_role[role] = await self.people.with_role(role)
        new = PlanItem(
            number=old.number,
            text=old.text,
            deadline=old.deadline,
            responsible=tuple(roles),
            responsible_text=old.responsible_text,
            proof=old.proof,
        )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self.plan_repo.update_roles(conn, number, roles, now)
            await self._notify_change(conn, snap, old, new, editor, now)
        self.outbox.wake()
        return new
