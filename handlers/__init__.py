"""One Router per capability, built fresh by each module's `build_router()` so that several
Dispatchers (tests, the sandbox) can exist in one process. The catch-all routers come last by
construction, not by comment."""

from __future__ import annotations

from aiogram import Router

from bot.tg.filters import IsStaff
from handlers import (
    admin,
    analysis,
    archive,
    broadcast,
    codes,
    consent,
    fallback,
    faq,
    school_year,
    search,
    start,
    status,
    tasks,
    tickets,
    training,
)


def capability_routers() -> list[Router]:

    return [
        start.build_router(),
        _staff_router(
            tasks.build_router(),
            admin.build_router(),
            school_year.build_router(),
            archive.build_router(),
            status.build_router(),
            analysis.build_router(),
            broadcast.build_router(),
        ),
        codes.build_router(),
        consent.build_router(),
        faq.build_router(),
        tickets.build_router(),
        training.build_router(),
    ]


def _staff_router(*children: Router) -> Router:
    """Staff-only capabilities behind one role check: parents, pupils and unknown users skip the
    whole group at once instead of walking every router in it (each router walked costs time on
    every update). Each child keeps its own, narrower role filter."""

    group = Router(name="staff")
    group.message.filter(IsStaff())
    group.callback_query.filter(IsStaff())
    group.include_routers(*children)
    return group


def catch_all_routers() -> list[Router]:

    # search: free text that no command, menu button or state handler took; before the fallback.
    return [search.build_router(), fallback.build_router()]


def routers() -> list[Router]:
    return [*capability_routers(), *catch_all_routers()]
