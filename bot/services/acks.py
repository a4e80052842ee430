"""Acknowledgements (issue #26): a broadcast or a plan document that asks for «Ознакомлен(а)».

The author (the IT officer, the director, the deputy) sends a text (a broadcast) or a document (a
local act of items 5-7, an instruction of items 12-14) to an audience; each recipient gets it through
the outbox with the «Ознакомлен(а)» button. A press records who confirmed which text (the SHA-256 of
the document's bytes, else of the text as sent) and when, through which messenger: evidence for the
plan item. The author sees the coverage per class and per role and who has not confirmed; a class
teacher sees the same for their own class; either can remind the ones who have not confirmed (once a
day per class, through the outbox). The coverage goes to the plan item as a proof on request and into
the item-18 analysis.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from bot.channels import DataClass
from bot.domain.access import SURVEY_AUTHOR_ROLES
from bot.domain.acks import Campaign, Target
from bot.domain.messages import Answer, Kind, Payload
from bot.domain.people import Person, class_sort_key
from bot.domain.surveys import share
from bot.i18n import Translator
from bot.services.broadcast import Audience
from bot.services.repos import AckCampaigns, People
from bot.services.surveys import main_role
from bot.services.task_actions import ProofInput, Refused

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.broadcast import BroadcastService
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.services.task_actions import TaskActions
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

RENDERER = "ack_document"
MAX_DOCUMENT = 10 * 1024 * 1024
MAX_TITLE = 120
CAPTION = 900  # a document's caption holds 1024 characters
PLAN_ITEMS = ("5", "6", "7", "12", "13", "14")  # what such a document is usually evidence for


class AckRefused(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Group:
    name: str  # a class label or a role
    total: int
    confirmed: int

    @property
    def pct(self) -> int:
        return share(self.confirmed, self.total)


@dataclass
class Coverage:
    campaign: Campaign
    total: int
    confirmed: int
    by_class: list[Group] = field(default_factory=list)
    by_role: list[Group] = field(default_factory=list)
    pending: list[tuple[Person, Target]] = field(default_factory=list)  # who has not confirmed (the viewer's)

    @property
    def pct(self) -> int:
        return share(self.confirmed, self.total)


def classes_of(target: Target) -> list[str]:
    return [c for c in (target.class_label or "").split(",") if c]


def text_class(public: bool) -> DataClass:
    """What a campaign's title and text are: personal unless the author marked them as naming no one."""
    return DataClass.PUBLIC if public else DataClass.PERSONAL


@dataclass(kw_only=True, eq=False)
class AcksService:
    ack_repo: AckCampaigns
    broadcast: BroadcastService
    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig
    task_actions: TaskActions
    tasks: TasksService

    # --- creating ---------------------------------------------------------------------------------

    async def targets_for(self, audience: Audience) -> list[tuple[Person, Target]]:
        classes = await self.people.children_classes()
        out = []
        for person in await self.broadcast.resolve(audience):
            if person.has_role("parent") and not person.is_staff:
                label = ",".join(sorted(classes.get(person.id, frozenset()), key=class_sort_key)) or None
                out.append((person, Target(person.id, "parent", label)))
            else:
                out.append((person, Target(person.id, main_role(person), person.class_label)))
        return out

    async def create(
        self, author: Person | None, *, title: str, body: str, audience: Audience, plan_item: str | None = None,
        document: bytes | None = None, file_name: str | None = None, public: bool = False,
    ) -> tuple[int, int, int]:
        """Send the text (or the document with `body` as its caption) with the «Ознакомлен(а)» button
        to the audience, all in one transaction. Returns (campaign id, people asked, messages).

        Its title and text are the author's: personal data unless the author marked them as naming
        no one (``public``), as a broadcast's text."""
        if author is not None and not author.has_role(*SURVEY_AUTHOR_ROLES):
            raise AckRefused("acks.not_author")
        title = " ".join(title.split())[:MAX_TITLE]
        if not title or not body.strip():
            raise AckRefused("acks.empty")
        if document is not None and len(document) > MAX_DOCUMENT:
            raise AckRefused("acks.too_big")
        if plan_item is not None and plan_item not in PLAN_ITEMS:
            raise AckRefused("acks.bad_item")
        targets = await self.targets_for(audience)
        if not targets:
            raise AckRefused("acks.nobody")
        now = self.clock.now()
        sha = digest(document) if document is not None else digest(body.encode("utf-8"))
        sent = 0
        async with self.db.transaction() as conn:
            cid = await self.ack_repo.insert(
                conn, title=title, body=body, document=document, file_name=file_name, sha256=sha,
                plan_item=plan_item, audience=str(audience), author_id=None if author is None else author.id, now=now,
                public_title=public,
            )
            await self.ack_repo.add_targets(conn, cid, [target for _, target in targets])
            for person, _ in targets:
                if not person.reachable:
                    continue
                t = self.catalog.translator_for(person)
                markup = self.buttons.ack_confirm(cid, t("acks.btn_confirm"))
                kind: Kind
                if document is not None:
                    payload = Payload(text=t("acks.document_caption", title=escape(title), body=body[:CAPTION]),
                                      reply_markup=markup, renderer=RENDERER, args={"campaign_id": cid},
                                      filename=file_name)
                    kind = "document"
                else:
                    payload = Payload(text=t("acks.text_message", title=escape(title), body=body), reply_markup=markup)
                    kind = "text"
                sent += await self.outbox.notify(conn, person, key=f"ack:{cid}:send:{person.id}", kind=kind,
                                                 payload=payload, now=now, data_class=text_class(public))
        return cid, len(targets), sent

    async def render_document(self, args: dict[str, Any]) -> tuple[bytes, str]:
        found = await self.ack_repo.document(int(args["campaign_id"]))
        if found is None:
            raise ValueError("acknowledgement document not found")
        return found

    # --- confirming -------------------------------------------------------------------------------

    async def confirm(
        self, person: Person, campaign_id: int, channel: str, note_lang: str | None = None,
    ) -> tuple[str, Campaign | None, Answer | None]:
        """("ok" | "again" | "not_target" | "missing", campaign, note). With ``note_lang`` a first
        confirmation's note (what was confirmed, and when) is queued with it as the press's answer
        (`Outbox.answer`): the person gets it even if the worker dies right after the commit (#27)."""
        repo = self.ack_repo
        campaign = await repo.get(campaign_id)
        if campaign is None:
            return "missing", None, None
        if await repo.target(campaign_id, person.id) is None:
            return "not_target", campaign, None
        now = self.clock.now()
        note: Answer | None = None
        async with self.db.transaction() as conn:
            new = await self.ack_repo.confirm(conn, campaign_id, person.id, campaign.sha256, channel, now)
            if new and note_lang is not None:
                text = self.catalog.text(note_lang, "acks.confirmed_note", title=escape(campaign.title),
                                         when=self.when(now))
                note = await self.outbox.answer(
                    conn, person, key=f"ack-note:{campaign_id}:{person.id}", payload=Payload(text=text), now=now,
                    data_class=text_class(campaign.public_title),
                )
        return ("ok" if new else "again"), campaign, note

    # --- who has not confirmed --------------------------------------------------------------------

    def may_view(self, viewer: Person, campaign: Campaign) -> bool:
        return viewer.id == campaign.author_id or viewer.has_role(*SURVEY_AUTHOR_ROLES) or (
            viewer.has_role("class_teacher") and viewer.class_label is not None)

    def _own_class(self, viewer: Person, campaign: Campaign) -> str | None:
        """A class teacher who is not an author sees their own class only."""
        if viewer.id == campaign.author_id or viewer.has_role(*SURVEY_AUTHOR_ROLES):
            return None
        return viewer.class_label

    async def campaigns(self, viewer: Person) -> list[Campaign]:
        return [c for c in (await self.ack_repo.all())[::-1] if self.may_view(viewer, c)]

    async def coverage(self, campaign: Campaign, viewer: Person | None = None) -> Coverage:
        repo = self.ack_repo
        targets = await repo.targets(campaign.id)
        done = await repo.confirmations(campaign.id)
        only = self._own_class(viewer, campaign) if viewer is not None else None
        if only is not None:
            targets = [t for t in targets if only in classes_of(t)]
        per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        per_role: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for target in targets:
            ok = int(target.person_id in done)
            for cls in classes_of(target) or [""]:
                per_class[cls][0] += 1
                per_class[cls][1] += ok
            per_role[target.role][0] += 1
            per_role[target.role][1] += ok
        pending_ids = [t.person_id for t in targets if t.person_id not in done]
        people = {p.id: p for p in await self.people.get_many(pending_ids)}
        by_id = {t.person_id: t for t in targets}
        pending = sorted(((people[i], by_id[i]) for i in pending_ids if i in people),
                         key=lambda pt: (class_sort_key(pt[1].class_label or ""), pt[0].full_name))
        return Coverage(
            campaign, len(targets), sum(t.person_id in done for t in targets),
            [Group(k, v[0], v[1]) for k, v in sorted(per_class.items(), key=lambda kv: class_sort_key(kv[0]))],
            [Group(k, v[0], v[1]) for k, v in sorted(per_role.items())],
            pending,
        )

    async def remind(self, viewer: Person, campaign_id: int, class_label: str = "") -> int:
        """Remind who has not confirmed (the viewer's class, or everyone for an author), once a day per
        class. Returns how many were reminded; raises AckRefused when not allowed or done today."""
        campaign = await self.ack_repo.get(campaign_id)
        if campaign is None or not self.may_view(viewer, campaign):
            raise AckRefused("acks.expired")
        own = self._own_class(viewer, campaign)
        if own is not None:
            class_label = own
        now = self.clock.now()
        today = self.school.calendar.local_date(now)
        coverage = await self.coverage(campaign, viewer)
        pending = [(p, t) for p, t in coverage.pending
                   if (not class_label or class_label in classes_of(t)) and p.active and p.reachable]
        if not pending:
            raise AckRefused("acks.nobody_pending")
        send_at = self.school.calendar.send_window(now)
        count = 0
        async with self.db.transaction() as conn:
            if not await self.ack_repo.record_reminder(
                conn, campaign_id, class_label, today, viewer.id, len(pending), now
            ):
                raise AckRefused("acks.reminded_today")
            for person, _ in pending:
                t = self.catalog.translator_for(person)
                count += await self.outbox.notify(
                    conn, person, key=f"ack:{campaign_id}:remind:{person.id}:{today.isoformat()}",
                    payload=Payload(text=t("acks.reminder", title=escape(campaign.title)),
                                    reply_markup=self.buttons.ack_confirm(campaign_id, t("acks.btn_confirm"))),
                    now=now, not_before=send_at, data_class=text_class(campaign.public_title),
                )
        return count

    # --- into the plan ----------------------------------------------------------------------------

    def coverage_text(self, cov: Coverage, t: Translator) -> str:
        lines = [t("acks.summary", title=cov.campaign.title, confirmed=cov.confirmed, total=cov.total, pct=cov.pct,
                   sha=cov.campaign.sha256[:16])]
        lines += [t("acks.summary_class", cls=g.name or "—", confirmed=g.confirmed, total=g.total, pct=g.pct)
                  for g in cov.by_class]
        return "\n".join(lines)

    async def to_plan(self, viewer: Person, campaign_id: int) -> int:
        """The coverage as the viewer's proof for the campaign's plan item (its current task)."""
        campaign = await self.ack_repo.get(campaign_id)
        if campaign is None or campaign.plan_item is None or not self.may_view(viewer, campaign):
            raise AckRefused("acks.expired")
        snap = await self.tasks.snapshot()
        item = snap.item(campaign.plan_item)
        if item is None:
            raise AckRefused("acks.expired")
        body = self.coverage_text(await self.coverage(campaign), self.catalog.translator_for(viewer))
        today = self.school.calendar.local_date(self.clock.now())
        for task in snap.current_tasks(item, today):
            if snap.accepted(task):
                continue
            try:
                return await self.task_actions.submit_proof(viewer, item.number, task.key, ProofInput("text", body))
            except Refused as exc:
                raise AckRefused(exc.key) from None
        raise AckRefused("acks.item_done")

    def when(self, moment: datetime) -> str:
        return moment.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")
