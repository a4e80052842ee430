"""`schoolbot district broadcast`: the district operator's message to every family of every school
(#27 item 6), through each school's own outbox.

Each school's broadcast is the one-school broadcast (bot/services/broadcast.py `create`), on the
school's own store: one broadcast row and one outbox row per reachable recipient, in one transaction
per school, with the school's own dedupe keys, channel policy and language per person. Nothing is
sent from this command: the running workers' senders claim the rows (leases, storage/delivery.py) and
send them through each school's own bot within its token's rate, so ten school bots carry ten times
what one would. `--wait` follows the delivery until every school's broadcast is done.

A school that cannot be opened stops the command before anything is enqueued anywhere: a district
broadcast reaches every school or none (a rerun would otherwise send twice to the schools that had
it).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import sys
from dataclasses import dataclass

from bot.channels import DataClass
from bot.cli import cli_lang
from bot.clock import SystemClock
from bot.config import load_settings
from bot.core import Core, SharedContent
from bot.district.schools import registry_store, school_core
from bot.domain.access import ALL_ROLES
from bot.i18n import Catalog, Translator
from bot.services.access_log import CLI, acting_as
from bot.services.broadcast import Audience, AudienceError
from bot.services.district import DistrictError, DistrictRegistry, School
from storage.delivery import DeliveryRepo

# How often --wait reads the schools' progress (real seconds: the workers send meanwhile).
POLL = 1.0


@dataclass
class Queued:
    school: School
    core: Core
    broadcast_id: int
    count: int


async def cmd_district_broadcast(args: argparse.Namespace) -> int:
    t = Catalog.load().bind(cli_lang(args))
    try:
        audience = Audience.parse(args.audience)
    except AudienceError:
        print(t("cli.bad_audience", value=args.audience, roles=", ".join(ALL_ROLES)), file=sys.stderr)
        return 2
    settings = load_settings()
    try:
        store = registry_store(settings, t)
        await store.open()
        try:
            schools = await DistrictRegistry(records=store, clock=SystemClock()).schools()
        finally:
            await store.close()
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    if args.school:
        wanted = set(args.school)
        unknown = sorted(wanted - {s.key for s in schools})
        if unknown:
            known = ", ".join(s.key for s in schools) or t("district.nothing_known")
            print(t("cli.error", message=t("district.unknown_school", key=", ".join(unknown), known=known)),
                  file=sys.stderr)
            return 2
        schools = [s for s in schools if s.key in wanted]
    if not schools:
        print(t("district.list_empty"))
        return 1
    shared = SharedContent.load()
    cores: list[tuple[School, Core]] = []
    try:
        for school in schools:
            core = school_core(settings, school, shared=shared)
            cores.append((school, core))
            await core.open()
        return await _broadcast(cores, audience, args, t)
    finally:
        await asyncio.gather(*(core.close() for _, core in cores))


async def _broadcast(
    cores: list[tuple[School, Core]], audience: Audience, args: argparse.Namespace, t: Translator
) -> int:
    total = reachable = 0
    for school, core in cores:
        seen = await core.services.broadcast.preview(audience)
        total += seen.total
        reachable += seen.reachable
        print(t("district_broadcast.preview_school", title=school.title, key=school.key, total=seen.total,
                reachable=seen.reachable))
    print(t("district_broadcast.preview_total", schools=len(cores), audience=str(audience), total=total,
            reachable=reachable))
    # The text is personal data unless the author states it carries none (--no-personal-data).
    data_class = DataClass.PUBLIC if args.no_personal_data else DataClass.PERSONAL
    print(t("broadcast.cli_public" if args.no_personal_data else "broadcast.cli_personal"))
    if reachable == 0:
        return 1
    if not args.yes:
        answer = await asyncio.to_thread(input, t("broadcast.cli_confirm") + " ")
        if answer.strip().lower() not in ("y", "yes", "д", "да"):
            return 1
    queued: list[Queued] = []
    for school, core in cores:
        with acting_as(CLI):
            broadcast_id, count = await core.services.broadcast.create(
                audience=audience, html_text=html.escape(args.text), author=None, data_class=data_class,
            )
        queued.append(Queued(school, core, broadcast_id, count))
        print(t("district_broadcast.queued", title=school.title, key=school.key, count=count, id=broadcast_id))
    if not args.wait:
        print(t("district_broadcast.queued_total", count=sum(q.count for q in queued), schools=len(queued)))
        return 0
    return await _follow(queued, t)


async def _follow(queued: list[Queued], t: Translator) -> int:
    """Until every school's broadcast is sent or failed; one line per school at the end."""
    failed = 0
    pending = list(queued)
    done: dict[str, tuple[int, int]] = {}
    while pending:
        still = []
        for q in pending:
            progress = await DeliveryRepo(q.core.db).progress(q.broadcast_id)
            if progress.done:
                await DeliveryRepo(q.core.db).finish_broadcast(q.broadcast_id, q.core.clock.now())
                done[q.school.key] = (progress.sent, progress.failed)
            else:
                still.append(q)
        pending = still
        if pending:
            await asyncio.sleep(POLL)
    for q in queued:
        sent, lost = done[q.school.key]
        failed += lost
        print(t("district_broadcast.done_school", title=q.school.title, key=q.school.key, sent=sent, failed=lost))
    return 0 if failed == 0 else 1
