"""Broadcasts: one message to an audience, one outbox row per reachable recipient.

Audiences are strings so that the bot, the CLI and the database speak the same language:
`parents`, `parents:<class>`, `staff`, `role:<role>`, `all`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.domain.access import ALL_ROLES, STAFF_ROLES
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Translator
from storage.delivery import DeliveryRepo, Progress
from storage.outbox import Payload, enqueue

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

BROADCAST_PRIORITY = 8  # after reminders and codes (5): a bulk message never delays them
PROGRESS_INTERVAL = 3.0  # seconds between edits of the progress message (real time)
# Telegram's limit is 4096 characters after entity parsing; leave room for the header.
MAX_TEXT = 3800


class AudienceError(ValueError):
    pass


@dataclass(frozen=True)
class Audience:
    kind: str  # parents | class | staff | role | all
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Audience:
        kind, _, value = text.strip().partition(":")
        kind = kind.lower()
        if kind == "parents" and value:
            return cls("class", value)
        if kind in ("parents", "staff", "all") and not value:
            return cls(kind)
        if kind == "role" and value in ALL_ROLES:
            return cls("role", value)
        raise AudienceError(
            f"unknown audience {text!r}; use parents, parents:<class>, staff, role:<role>, all "
            f"(roles: {', '.join(ALL_ROLES)})"
        )

    def __str__(self) -> str:
        if self.kind == "class":
            return f"parents:{self.value}"
        if self.kind == "role":
            return f"role:{self.value}"
        return self.kind

    def describe(self, t: Translator) -> str:
        if self.kind == "class":
            return t("broadcast.audience_class", label=self.value or "")
        if self.kind == "role":
            return t("broadcast.audience_role", role=t(f"roles.{self.value}"))
        return t(f"broadcast.audience.{self.kind}")


async def resolve(app: App, audience: Audience) -> list[Person]:
    """Active people in the audience (reachable or not), each once."""
    people = app.people
    if audience.kind == "parents":
        found = await people.with_role("parent")
    elif audience.kind == "class":
        found = await people.parents_of_class(audience.value or "")
    elif audience.kind == "role":
        found = await people.with_role(audience.value or "")
    elif audience.kind == "staff":
        found = [p for p in await people.active() if p.roles & STAFF_ROLES]
    else:
        found = await people.active()
    unique = {p.id: p for p in found}
    return list(unique.values())


@dataclass(frozen=True)
class Preview:
    total: int
    reachable: int


async def preview(app: App, audience: Audience) -> Preview:
    people = await resolve(app, audience)
    return Preview(total=len(people), reachable=sum(1 for p in people if p.reachable))


async def create(app: App, *, audience: Audience, html_text: str, author: Person | None) -> tuple[int, int]:
    """Enqueue the broadcast in one transaction: the broadcast row and one outbox row per reachable
    recipient (dedupe key bc:<broadcast>:<person>). Returns (broadcast id, rows enqueued)."""
    people = await resolve(app, audience)
    reachable = [p for p in people if p.reachable]
    now = app.clock.now()
    async with app.db.transaction() as conn:
        broadcast_id = await DeliveryRepo.create_broadcast(
            conn, created_by=author.id if author else None, audience=str(audience), text=html_text,
            total=len(people), reachable=len(reachable), now=now,
        )
        for person in reachable:
            assert person.tg_user_id is not None
            header = app.translator_for(person)("broadcast.header")
            await enqueue(
                conn,
                dedupe_key=f"bc:{broadcast_id}:{person.id}",
                chat_id=person.tg_user_id,
                person_id=person.id,
                kind="text",
                payload=Payload(text=f"{header}\n\n{html_text}"),
                now=now,
                priority=BROADCAST_PRIORITY,
                broadcast_id=broadcast_id,
            )
    log.info("broadcast %s to %s: %d of %d reachable", broadcast_id, audience, len(reachable), len(people))
    app.wake_sender()
    return broadcast_id, len(reachable)


def render_progress(t: Translator, progress: Progress) -> str:
    key = "broadcast.done" if progress.done else "broadcast.progress"
    return t(key, sent=progress.sent, failed=progress.failed, left=progress.left, total=progress.total)


async def watch_progress(app: App, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
    """Edit the author's progress message at most every PROGRESS_INTERVAL seconds until done."""
    repo = DeliveryRepo(app.db)
    last = ""
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL)
        try:
            progress = await repo.progress(broadcast_id)
        except Exception:  # the database closed: the bot is stopping
            return
        text = render_progress(t, progress)
        if text != last:
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
            last = text
        if progress.done:
            await repo.finish_broadcast(broadcast_id, app.clock.now())
            return


def start_watch(app: App, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
    tasks: set[asyncio.Task[None]] = app.extras.setdefault("broadcast_watchers", set())
    task = asyncio.create_task(watch_progress(app, bot, t, broadcast_id, chat_id, message_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def resume_watchers(app: App, bot: Bot) -> None:
    """After a restart, keep editing the progress messages of broadcasts still under way."""
    for row in await DeliveryRepo(app.db).unfinished_broadcasts():
        t = app.catalog.bind(row["lang"] or DEFAULT_LANG)
        start_watch(app, bot, t, row["id"], row["progress_chat_id"], row["progress_message_id"])


async def stop_watchers(app: App) -> None:
    tasks: set[asyncio.Task[None]] = app.extras.get("broadcast_watchers", set())
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.wait(list(tasks), timeout=1.0)


def install(app: App) -> None:
    app.admin_actions.append(("dead", "broadcast.admin.dead"))


# --- CLI ----------------------------------------------------------------------------------------


async def cmd_broadcast(app: App, args: argparse.Namespace, t: Translator) -> int:
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    from bot.app import build_bot
    from bot.tg.sender import OutboxSender

    try:
        audience = Audience.parse(args.audience)
    except AudienceError as exc:
        print(f"schoolbot: {exc}", file=sys.stderr)
        return 2
    seen = await preview(app, audience)
    print(t("broadcast.cli_preview", audience=str(audience), total=seen.total, reachable=seen.reachable))
    if seen.reachable == 0:
        return 1
    if not args.yes:
        answer = await asyncio.to_thread(input, t("broadcast.cli_confirm") + " ")
        if answer.strip().lower() not in ("y", "yes", "д", "да"):
            return 1
    bot = build_bot(app.settings)
    sender = OutboxSender(app, bot)
    broadcast_id, count = await create(app, audience=audience, html_text=html.escape(args.text), author=None)
    sender.start()
    repo = DeliveryRepo(app.db)
    try:
        with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task(t("broadcast.cli_sending"), total=count)
            while True:
                progress = await repo.progress(broadcast_id)
                bar.update(task, completed=progress.sent + progress.failed)
                if progress.done:
                    break
                await asyncio.sleep(0.5)
    finally:
        await sender.stop()
        await bot.session.close()
    await repo.finish_broadcast(broadcast_id, app.clock.now())
    print(render_progress(t, progress))
    return 0 if progress.failed == 0 else 1


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("broadcast", help="send a message to an audience, with a progress bar (needs BOT_TOKEN)")
    p.add_argument("--audience", required=True, help="parents | parents:<class> | staff | role:<role> | all")
    p.add_argument("--text", required=True, help="the message (plain text)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_broadcast)
