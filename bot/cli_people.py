"""`schoolbot merge-person`: one person per human, from the command line (the bot's /admin menu
offers the same for the pairs it can suggest; here any two records can be named)."""

from __future__ import annotations

import argparse
import sys

from bot.core import Core
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.access_log import AccessKind
from bot.services.onboarding import MergeRefused
from bot.services.people_text import find_people


async def _one(app: Core, query: str, t: Translator) -> Person | None:
    by_id = [p for p in await app.people.active() if str(p.id) == query.strip()]
    matches = by_id or await find_people(app.people, query, limit=None)
    # Who looked (#24): the ids found, never the name typed.
    await app.services.access_log.record(AccessKind.PERSON_SEARCH, ",".join(str(p.id) for p in matches))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        print(t("cli.nobody_matches", query=query), file=sys.stderr)
        return None
    print(t.plural("cli.many_match", len(matches), query=query), file=sys.stderr)
    for p in matches[:20]:
        print(f"  {p.id}: {p.full_name} {p.class_label or ''}", file=sys.stderr)
    return None


async def cmd_merge_person(app: Core, args: argparse.Namespace, t: Translator) -> int:
    duplicate, into = await _one(app, args.duplicate, t), await _one(app, args.into, t)
    if duplicate is None or into is None:
        return 1
    try:
        await app.services.onboarding.merge_people(duplicate_id=duplicate.id, into_id=into.id)
    except MergeRefused as refused:
        print(t(str(refused)), file=sys.stderr)
        return 1
    print(t("admin.merge_done", duplicate=duplicate.full_name, into=into.full_name))
    return 0
