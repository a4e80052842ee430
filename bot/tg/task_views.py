"""The plan's task list and task card as Telegram renders them (text and inline buttons)."""

from __future__ import annotations

from datetime import date, datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.config import SchoolConfig
from bot.domain.access import EDITOR_ROLES, REVIEWER_ROLES
from bot.domain.calendar import deadline_words
from bot.domain.people import Person
from bot.domain.plan import PlanItem
from bot.i18n import Translator
from bot.services.tasks import PAGE_SIZE, SHORT_TEXT, Snapshot, Task, esc, shorten, task_label, tasks_for
from bot.tg.callbacks import ProofAct, TaskAct, TaskEdit, TaskPage
from storage.tasks import Proof


def _status_text(snap: Snapshot, task: Task, today: date, t: Translator) -> str:
    return t(f"tasks.status.{snap.status(task, today)}")


def _proof_expected(item: PlanItem, t: Translator) -> str:
    return item.proof or t("tasks.proof_any")


def render_list(
    snap: Snapshot, person: Person, today: date, page: int, t: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    tasks = tasks_for(snap, person, today)
    if not tasks:
        return t("tasks.list.empty"), None
    pages = (len(tasks) + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(0, min(page, pages - 1))
    chunk = tasks[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [t("tasks.list.title", n=len(tasks), page=page + 1, pages=pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for task in chunk:
        status = snap.status(task, today)
        deadline = deadline_words(task.item.deadline, task.occ, t.lang)
        status_text = t(f"tasks.status.{status}")
        lines.append(
            t(
                # "срок не задан · срок не задан": a status that only repeats the deadline is said once.
                "tasks.list.line_deadline" if status_text.casefold() == deadline.casefold() else "tasks.list.line",
                mark=t(f"tasks.mark.{status}"),
                label=task_label(task, t),
                text=esc(shorten(task.item.text, SHORT_TEXT)),
                deadline=deadline,
                status=status_text,
                proof=esc(shorten(_proof_expected(task.item, t), 100)),
            )
        )
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.open_n", label=task_label(task, t)),
                    callback_data=TaskAct(action="open", item=task.item.number, occ=task.key).pack(),
                )
            ]
        )
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(text=t("tasks.btn.prev"), callback_data=TaskPage(page=page - 1).pack()))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(text=t("tasks.btn.next"), callback_data=TaskPage(page=page + 1).pack()))
    if nav:
        rows.append(nav)
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def when(school: SchoolConfig, moment: datetime) -> str:
    return moment.astimezone(school.tz).strftime("%d.%m.%Y %H:%M")


def render_task(
    school: SchoolConfig, snap: Snapshot, task: Task, viewer: Person, today: date, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    item = task.item
    people = snap.people_for(item)
    names = ", ".join(p.full_name for p in people) if people else t("tasks.view.nobody")
    roles = ", ".join(t(f"roles.{r}") for r in item.responsible)
    parts = [
        t(
            "tasks.view.body",
            number=item.number,
            text=esc(shorten(item.text, 1500)),
            deadline=deadline_words(item.deadline, task.occ, t.lang),
            source=esc(item.deadline.source or "—"),
            roles=roles,
            people=esc(names),
            proof=esc(_proof_expected(item, t)),
            status=_status_text(snap, task, today, t),
        )
    ]
    proofs = snap.proofs_of(task)
    if proofs:
        parts.append(t("tasks.view.proofs_title"))
        for proof in proofs[-10:]:
            parts.append(_proof_line(school, snap, proof, t))
    rows: list[list[InlineKeyboardButton]] = []
    responsible = bool(viewer.roles & set(item.responsible))
    if responsible and not snap.done_by(task, viewer.id):
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.done"),
                    callback_data=TaskAct(action="done", item=item.number, occ=task.key).pack(),
                )
            ]
        )
    if viewer.roles & REVIEWER_ROLES:
        for proof in proofs:
            if proof.status == "submitted" and proof.person_id != viewer.id:
                rows.append(review_buttons(proof.id, t, with_name=_name(snap, proof.person_id)))
    if viewer.roles & EDITOR_ROLES:
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.edit_deadline"),
                    callback_data=TaskEdit(action="deadline", item=item.number).pack(),
                ),
                InlineKeyboardButton(
                    text=t("tasks.btn.edit_roles"), callback_data=TaskEdit(action="roles", item=item.number).pack()
                ),
            ]
        )
    rows.append([InlineKeyboardButton(text=t("tasks.btn.back"), callback_data=TaskPage(page=0).pack())])
    return "\n\n".join(parts), InlineKeyboardMarkup(inline_keyboard=rows)


def _name(snap: Snapshot, person_id: int) -> str:
    for people in snap.by_role.values():
        for p in people:
            if p.id == person_id:
                return p.full_name
    return f"#{person_id}"


def _proof_line(school: SchoolConfig, snap: Snapshot, proof: Proof, t: Translator) -> str:
    what = t(f"tasks.proof_kind.{proof.kind}")
    if proof.body:
        what += f": {esc(shorten(proof.body, 120))}"
    elif proof.file_name:
        what += f": {esc(shorten(proof.file_name, 60))}"
    line = t(
        "tasks.view.proof_line",
        name=esc(_name(snap, proof.person_id)),
        what=what,
        status=t(f"tasks.proof_status.{proof.status}"),
        when=when(school, proof.created_at),
    )
    if proof.review_comment:
        line += "\n" + t("tasks.view.comment", comment=esc(shorten(proof.review_comment, 300)))
    return line


def review_buttons(proof_id: int, t: Translator, *, with_name: str | None = None) -> list[InlineKeyboardButton]:
    suffix = f" · {shorten(with_name, 24)}" if with_name else ""
    return [
        InlineKeyboardButton(
            text=t("tasks.btn.accept") + suffix, callback_data=ProofAct(action="accept", proof_id=proof_id).pack()
        ),
        InlineKeyboardButton(
            text=t("tasks.btn.return"), callback_data=ProofAct(action="return", proof_id=proof_id).pack()
        ),
    ]
