"""One declaration per capability: its routers, sweeps, importers, outbox renderers, entries of the
IT officer's /admin menu, listeners, handler-side objects and process-wide set-up, in one place each.

The composition root (bot/app.py) assembles the bot from `CAPABILITIES`: nothing registers itself
anywhere and nothing here is mutable. Order matters three ways, each said where it applies: the
list's order is the order of the routers (earlier routers see an update first; `staff=True` routers
go into one staff-only group placed where the first of them stands); sweeps, importers and admin
menu entries carry an explicit rank (sweeps run in rank order; consent's before codes', because an
activation reminder folds into a consent reminder still waiting).

Reading this module loads the services and nothing of the messenger: routers and the screens
handlers are given are named by module path ("handlers.tasks:build_router"), imported by bot/app.py
when it builds the Dispatcher. The command line builds its services from these declarations
(bot/core.py) and so never loads aiogram for a command that sends nothing. Every `schoolbot`
command, a capability's own included, is declared in bot/cli_specs.py, by module path as well: the
parser is built without loading any service.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from bot.modpath import resolve
from bot.services.acks import RENDERER as ACK_RENDERER
from bot.services.codes import CARD_RENDERER
from bot.services.imports import Importer
from bot.services.ports import ConsentGivenListener, PersonLinkedListener, Renderer
from bot.services.training import RENDERER as TRAINING_RENDERER
from bot.wiring import Services
from storage.db import quiet_statement_log  # the codes capability's set-up: no code in the driver's log

if TYPE_CHECKING:
    from aiogram import Router

    from scheduler.base import Sweep

@dataclass(frozen=True)
class RouterSpec:
    # "handlers.module:build_router", a fresh Router per Dispatcher (tests build many). By module
    # path, so that reading the declarations (the CLI builds services from them) loads no handler
    # and no aiogram; bot/app.py imports the handlers when it builds the Dispatcher.
    build: str
    staff: bool = False  # behind the one staff-only role check

    def router(self) -> Router:
        router: Router = resolve(self.build)()
        return router


# What a capability declares about its service is taken from the built services (bot/wiring.py):
# each spec names the bound method or object it means, and the root reads it once at start.
@dataclass(frozen=True)
class SweepSpec:
    name: str
    run: Callable[[Services], Sweep]
    rank: int


@dataclass(frozen=True)
class ImporterSpec:
    importer: Callable[[Services], Importer]
    rank: int


@dataclass(frozen=True)
class RendererSpec:
    name: str  # the outbox payload's `renderer`
    render: Callable[[Services], Renderer]


@dataclass(frozen=True)
class DataSpec:
    """A handler-side object (a screen reading several services) handed to handlers by name."""

    name: str
    # "handlers.module:Class", by module path as routers are; built with the services its
    # constructor names (keyword-only parameters, filled by name as handlers' parameters are).
    build: str

    def make(self, services: Services) -> object:
        cls = resolve(self.build)
        known = {f.name for f in fields(services)}
        wanted = [p.name for p in inspect.signature(cls).parameters.values() if p.kind is p.KEYWORD_ONLY]
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise LookupError(f"{self.build} asks for {', '.join(unknown)}: no service has that name")
        return cls(**{name: getattr(services, name) for name in wanted})


@dataclass(frozen=True)
class AdminEntry:
    action: str  # the AdminAction id its button carries
    label_key: str  # catalog key of its label
    rank: int  # position in the /admin menu


@dataclass(frozen=True)
class Capability:
    name: str
    routers: tuple[RouterSpec, ...] = ()
    sweeps: tuple[SweepSpec, ...] = ()
    importers: tuple[ImporterSpec, ...] = ()
    renderers: tuple[RendererSpec, ...] = ()
    admin_actions: tuple[AdminEntry, ...] = ()
    link_listeners: tuple[Callable[[Services], PersonLinkedListener], ...] = ()
    consent_listeners: tuple[Callable[[Services], ConsentGivenListener], ...] = ()
    data: tuple[DataSpec, ...] = ()  # more Dispatcher data, built from the services
    setup: tuple[Callable[[], None], ...] = ()  # process-wide set-up, run once per build


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "onboarding",  # /start, contact and deep-link linking, language
        routers=(RouterSpec("handlers.start:build_router"),),
    ),
    Capability(
        "tasks",  # the plan's tasks, reminders and digests
        routers=(RouterSpec("handlers.tasks:build_router", staff=True),),
        sweeps=(SweepSpec("tasks", lambda s: s.reminders.sweep, 40),),
        importers=(ImporterSpec(lambda s: s.tasks_import.importer, 40),),
    ),
    Capability(
        "roster",  # imports, linking by the IT officer, merging duplicates
        routers=(RouterSpec("handlers.admin:build_router", staff=True),),
        importers=(ImporterSpec(lambda s: s.roster_import.importer, 10),),
        admin_actions=(AdminEntry("link", "admin.action.link", 10), AdminEntry("merge", "admin.action.merge", 40)),
    ),
    Capability(
        "school_year",
        routers=(RouterSpec("handlers.school_year:build_router", staff=True),),
        admin_actions=(AdminEntry("new_year", "year.action", 20),),
    ),
    Capability(
        "archive",  # plan item 19: printed journals to the archive each May
        routers=(RouterSpec("handlers.archive:build_router", staff=True),),
        sweeps=(SweepSpec("archive", lambda s: s.archive.run_nudges, 60),),
        admin_actions=(AdminEntry("archive", "archive.action", 30),),
    ),
    Capability(
        "status",  # status, reports, journal and database backups
        routers=(RouterSpec("handlers.status:build_router", staff=True),),
        sweeps=(SweepSpec("ops", lambda s: s.ops.sweep, 10),),
        renderers=(RendererSpec("ops_consent_register", lambda s: s.report.consent_register),),
    ),
    Capability(
        "send_log",  # issue #17 item 5: every send by channel and data class, for an inspector
        routers=(RouterSpec("handlers.send_log:build_router", staff=True),),
        admin_actions=(AdminEntry("sends", "channels.admin_action", 110),),
    ),
    Capability(
        "access_log",  # issue #24 item 5: who opened or exported personal data, for an inspector
        routers=(RouterSpec("handlers.access_log:build_router", staff=True),),
        admin_actions=(AdminEntry("access", "access.admin_action", 115),),
    ),
    Capability(
        "my_data",  # issue #24 item 4: a person's own data (152-FZ art. 14), bot button and CLI
        routers=(RouterSpec("handlers.my_data:build_router"),),
    ),
    Capability(
        "retention",  # issue #24 item 3: the daily purge of data past its term, `schoolbot purge`
        sweeps=(SweepSpec("retention", lambda s: s.retention.sweep, 70),),
    ),
    Capability(
        "analysis",  # plan item 18
        routers=(RouterSpec("handlers.analysis:build_router", staff=True),),
    ),
    Capability(
        "broadcast",
        routers=(RouterSpec("handlers.broadcast:build_router", staff=True),),
        admin_actions=(AdminEntry("dead", "broadcast.admin.dead", 60),),
    ),
    Capability(
        "codes",  # invitation codes as QR cards
        routers=(RouterSpec("handlers.codes:build_router"),),
        sweeps=(SweepSpec("codes", lambda s: s.codes_nudges.sweep, 30),),
        importers=(
            ImporterSpec(lambda s: s.codes_import.codes_importer, 20),
            ImporterSpec(lambda s: s.codes_import.activations_importer, 30),
        ),
        renderers=(RendererSpec(CARD_RENDERER, lambda s: s.codes.render_card_for),),
        admin_actions=(AdminEntry("codes", "codes.admin_action", 70),),
        link_listeners=(lambda s: s.codes.on_link,),
        consent_listeners=(lambda s: s.codes.on_consent_given,),
        setup=(quiet_statement_log,),
    ),
    Capability(
        "consent",
        routers=(
            RouterSpec("handlers.consent:build_router"), RouterSpec("handlers.consent_staff:build_router"),
            RouterSpec("handlers.consent_paper:build_router"),
            RouterSpec("handlers.consent_destruction:build_router", staff=True),
        ),
        sweeps=(
            SweepSpec("consent", lambda s: s.consent_nudges.sweep, 20),
            SweepSpec("consent_destruction", lambda s: s.consent_withdrawal.sweep, 21),
        ),
        admin_actions=(AdminEntry("consent", "consent.admin_action", 50),),
        data=(
            DataSpec("consent_screens", "handlers.consent_staff:ConsentScreens"),
            DataSpec("parent_screens", "handlers.consent_parent:ParentScreens"),
        ),
    ),
    Capability("faq", routers=(RouterSpec("handlers.faq:build_router"),)),
    Capability(
        "tickets",  # "ask the IT officer"
        routers=(RouterSpec("handlers.tickets:build_router"),),
        # Unanswered questions: the IT officer's daily list, then the director (bot/services/tickets_escalation.py).
        sweeps=(SweepSpec("questions", lambda s: s.question_escalation.sweep, 55),),
        admin_actions=(
            AdminEntry("tickets", "help.admin.tickets", 80), AdminEntry("faq_reload", "help.admin.faq_reload", 90),
        ),
    ),
    Capability(
        "training",  # training sessions and parent meetings
        routers=(RouterSpec("handlers.training:build_router"),),
        sweeps=(SweepSpec("training", lambda s: s.training.send_due_reminders, 50),),
        importers=(ImporterSpec(lambda s: s.training.importer, 50),),
        renderers=(RendererSpec(TRAINING_RENDERER, lambda s: s.training.render_attendance),),
        admin_actions=(AdminEntry("training", "help.admin.training", 100),),
    ),
    Capability(
        "surveys",  # issue #26: the plan's own questions (items 1, 2, 11-14), results into item 18
        # After the plan's, consent's and codes' sweeps: a survey reminder keeps to the one nudge a
        # person a day that those have used or left (bot/services/surveys_nudges.py).
        routers=(
            RouterSpec("handlers.surveys:build_router"), RouterSpec("handlers.surveys_admin:build_router", staff=True),
        ),
        sweeps=(SweepSpec("surveys", lambda s: s.survey_nudges.sweep, 70),),
        admin_actions=(AdminEntry("surveys", "surveys.admin.action", 105),),
    ),
    Capability(
        "acks",  # issue #26: «Ознакомлен(а)» under a broadcast or a plan document, coverage per class
        routers=(RouterSpec("handlers.acks:build_router"), RouterSpec("handlers.acks_admin:build_router", staff=True)),
        renderers=(RendererSpec(ACK_RENDERER, lambda s: s.acks.render_document),),
    ),
    Capability(
        "catch_all",  # last by construction: free-text search, then the fallback
        routers=(RouterSpec("handlers.search:build_router"), RouterSpec("handlers.fallback:build_router")),
    ),
)


def router_specs(capabilities: Sequence[Capability] = CAPABILITIES) -> list[RouterSpec]:
    """Every capability's routers in order (bot/app.py builds them, the staff-only ones in one group)."""
    return [spec for capability in capabilities for spec in capability.routers]


def sweeps(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> list[tuple[str, Sweep]]:
    ordered = sorted((s for c in capabilities for s in c.sweeps), key=lambda s: s.rank)
    return [(s.name, s.run(services)) for s in ordered]


def importers(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> dict[str, Importer]:
    ordered = sorted((i for c in capabilities for i in c.importers), key=lambda i: i.rank)
    built = [i.importer(services) for i in ordered]
    return {importer.kind: importer for importer in built}


def admin_actions(capabilities: Sequence[Capability] = CAPABILITIES) -> list[tuple[str, str]]:
    ordered = sorted((a for c in capabilities for a in c.admin_actions), key=lambda a: a.rank)
    return [(a.action, a.label_key) for a in ordered]


def renderers(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> dict[str, Renderer]:
    return {spec.name: spec.render(services) for c in capabilities for spec in c.renderers}


def dispatcher_data(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> dict[str, object]:
    return {spec.name: spec.make(services) for c in capabilities for spec in c.data}


def consent_listeners(
    services: Services, capabilities: Sequence[Capability] = CAPABILITIES
) -> list[ConsentGivenListener]:
    return [listener(services) for c in capabilities for listener in c.consent_listeners]


def link_listeners(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> list[PersonLinkedListener]:
    return [listener(services) for c in capabilities for listener in c.link_listeners]
