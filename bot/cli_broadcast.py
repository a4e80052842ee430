"""`schoolbot broadcast`: a message to an audience from the command line, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import html
import sys

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as Bar

from bot.app import App, build_bot
from bot.channels import DataClass
from bot.domain.access import ALL_ROLES
from bot.i18n import Translator
from bot.services.broadcast import Audience, AudienceError, render_progress
from storage.delivery import DeliveryRepo


async def cmd_broadcast(app: App, args: argparse.Namespace, t: Translator) -> int:
    try:
        audience = Audience.parse(args.audience)
    except AudienceError:
        print(t("cli.bad_audience", value=args.audience, roles=", ".join(ALL_ROLES)), file=sys.stderr)
        return 2
    seen = await app.services.broadcast.preview(audience)
    print(t("broadcast.cli_preview", audience=str(audience), total=seen.total, reachable=seen.reachable))
    # The text is personal data unless the author states it carries none (--no-personal-data).
    data_class = DataClass.PUBLIC if args.no_personal_data else DataClass.PERSONAL
    print(t("broadcast.cli_public" if data_class is DataClass.PUBLIC else "broadcast.cli_personal"))
    if seen.reachable == 0:
        return 1
    if not args.yes:
        answer = await asyncio.to_thread(input, t("broadcast.cli_confirm") + " ")
        if answer.strip().lower() not in ("y", "yes", "д", "да"):
            return 1
    bot = build_bot(app.settings)
    sender = app.new_sender(bot)
    broadcast_id, count = await app.services.broadcast.create(
        audience=audience, html_text=html.escape(args.text), author=None, data_class=data_class
    )
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
