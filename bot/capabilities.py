"""One declaration per capability: its routers, sweeps, CLI commands, importers, outbox renderers,
entries of the IT officer's /admin menu, listeners and process-wide set-up, in one place each.

The composition root (bot/app.py) assembles the bot from `CAPABILITIES`: nothing registers itself
anywhere and nothing here is mutable. Order matters three ways, each said where it applies: the
list's order is the order of the routers (earlier routers see an update first; `staff=True` routers
go into one staff-only group placed where the first of them stands); sweeps, importers and admin
menu entries carry an explicit rank (sweeps run in rank order; consent's before codes', because an
activation reminder folds into a consent reminder still waiting).

Entry-point-only commands (`schoolbot run`, `import`, `link`, `admin-token`, `broadcast`,
`merge-person`, `sandbox`) are declared by bot/cli.py itself: they build the bot or talk to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiogram import Router

from bot.argparsing import SubParsers
from bot.services import (
    access_log,
    analysis,
    codes_print,
    consent_export,
    ledger,
    reminders,
    report,
    restore,
    retention,
    school_year,
    send_log_export,
    subject_report,
)
from bot.services.acks import RENDERER as ACK_RENDERER
from bot.services.codes import CARD_RENDERER
from bot.services.imports import Importer
from bot.services.ports import ConsentGivenListener, PersonLinkedListener, Renderer
from bot.services.training import RENDERER as TRAINING_RENDERER
from bot.tg.filters import IsStaff
from bot.wiring import Services
from handlers import access_log as access_log_handlers
from handlers import acks as acks_handlers
from handlers import (
    acks_admin,
    consent_destruction,
    consent_paper,
    consent_staff,
    fallback,
    faq,
    search,
    start,
    surveys_admin,
)
from handlers import admin as admin_handlers
from handlers import analysis as analysis_handlers
from handlers import archive as archive_handlers
from handlers import broadcast as broadcast_handlers
from handlers import codes as codes_handlers
from handlers import consent as consent_handlers
from handlers import my_data as my_data_handlers
from handlers import school_year as school_year_handlers
from handlers import send_log as send_log_handlers
from handlers import status as status_handlers
from handlers import surveys as surveys_handlers
from handlers import tasks as tasks_handlers
from handlers import tickets as tickets_handlers
from handlers import training as training_handlers
from handlers.consent_parent import ParentScreens
from handlers.consent_staff import ConsentScreens
from scheduler.base import Sweep

CliCommands = Callable[[SubParsers, SubParsers], None]


@dataclass(frozen=True)
class RouterSpec:
    build: Callable[[], Router]  # a fresh Router per Dispatcher (tests build many)
    staff: bool = False  # behind the one staff-only role check


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
    build: Callable[[Services], object]


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
    cli: tuple[CliCommands, ...] = ()
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
        routers=(RouterSpec(start.build_router),),
    ),
    Capability(
        "tasks",  # the plan's tasks, reminders and digests
        routers=(RouterSpec(tasks_handlers.build_router, staff=True),),
        sweeps=(SweepSpec("tasks", lambda s: s.reminders.sweep, 40),),
        cli=(reminders.register_cli,),
        importers=(ImporterSpec(lambda s: s.tasks_import.importer, 40),),
    ),
    Capability(
        "roster",  # imports, linking by the IT officer, merging duplicates
        routers=(RouterSpec(admin_handlers.build_router, staff=True),),
        importers=(ImporterSpec(lambda s: s.roster_import.importer, 10),),
        admin_actions=(AdminEntry("link", "admin.action.link", 10), AdminEntry("merge", "admin.action.merge", 40)),
    ),
    Capability(
        "school_year",
        routers=(RouterSpec(school_year_handlers.build_router, staff=True),),
        cli=(school_year.register_cli,),
        admin_actions=(AdminEntry("new_year", "year.action", 20),),
    ),
    Capability(
        "archive",  # plan item 19: printed journals to the archive each May
        routers=(RouterSpec(archive_handlers.build_router, staff=True),),
        sweeps=(SweepSpec("archive", lambda s: s.archive.run_nudges, 60),),
        admin_actions=(AdminEntry("archive", "archive.action", 30),),
    ),
    Capability(
        "status",  # status, reports, journal and database backups
        routers=(RouterSpec(status_handlers.build_router, staff=True),),
        sweeps=(SweepSpec("ops", lambda s: s.ops.sweep, 10),),
        cli=(report.register_cli, restore.register_cli),
        renderers=(RendererSpec("ops_consent_register", lambda s: s.report.consent_register),),
    ),
    Capability(
        "send_log",  # issue #17 item 5: every send by channel and data class, for an inspector
        routers=(RouterSpec(send_log_handlers.build_router, staff=True),),
        cli=(send_log_export.register_cli,),
        admin_actions=(AdminEntry(send_log_handlers.ACTION, "channels.admin_action", 110),),
    ),
    Capability(
        "access_log",  # issue #24 item 5: who opened or exported personal data, for an inspector
        routers=(RouterSpec(access_log_handlers.build_router, staff=True),),
        cli=(access_log.register_cli,),
        admin_actions=(AdminEntry(access_log_handlers.ACTION, "access.admin_action", 115),),
    ),
    Capability(
        "my_data",  # issue #24 item 4: a person's own data (152-FZ art. 14), bot button and CLI
        routers=(RouterSpec(my_data_handlers.build_router),),
        cli=(subject_report.register_cli,),
    ),
    Capability(
        "retention",  # issue #24 item 3: the daily purge of data past its term, `schoolbot purge`
        sweeps=(SweepSpec("retention", lambda s: s.retention.sweep, 70),),
        cli=(retention.register_cli,),
    ),
    Capability(
        "analysis",  # plan item 18
        routers=(RouterSpec(analysis_handlers.build_router, staff=True),),
        cli=(analysis.register_cli,),
    ),
    Capability(
        "broadcast",
        routers=(RouterSpec(broadcast_handlers.build_router, staff=True),),
        admin_actions=(AdminEntry("dead", "broadcast.admin.dead", 60),),
    ),
    Capability(
        "codes",  # invitation codes as QR cards
        routers=(RouterSpec(codes_handlers.build_router),),
        sweeps=(SweepSpec("codes", lambda s: s.codes_nudges.sweep, 30),),
        cli=(codes_print.register_cli,),
        importers=(
            ImporterSpec(lambda s: s.codes_import.codes_importer, 20),
            ImporterSpec(lambda s: s.codes_import.activations_importer, 30),
        ),
        renderers=(RendererSpec(CARD_RENDERER, lambda s: s.codes.render_card_for),),
        admin_actions=(AdminEntry("codes", "codes.admin_action", 70),),
        link_listeners=(lambda s: s.codes.on_link,),
        consent_listeners=(lambda s: s.codes.on_consent_given,),
        setup=(codes_print.quiet_statement_log,),
    ),
    Capability(
        "consent",
        routers=(
            RouterSpec(consent_handlers.build_router), RouterSpec(consent_staff.build_router),
            RouterSpec(consent_paper.build_router), RouterSpec(consent_destruction.build_router, staff=True),
        ),
        sweeps=(
            SweepSpec("consent", lambda s: s.consent_nudges.sweep, 20),
            SweepSpec("consent_destruction", lambda s: s.consent_withdrawal.sweep, 21),
        ),
        cli=(consent_export.register_cli, ledger.register_cli),
        admin_actions=(AdminEntry("consent", "consent.admin_action", 50),),
        data=(
            DataSpec("consent_screens", lambda s: ConsentScreens(
                access_log=s.access_log, consent_nudges=s.consent_nudges, consent_paper=s.consent_paper,
                consent_registers=s.consent_registers, people=s.people, school=s.school,
            )),
            DataSpec("parent_screens", lambda s: ParentScreens(
                consent=s.consent, consent_gate=s.consent_gate, school=s.school,
            )),
        ),
    ),
    Capability("faq", routers=(RouterSpec(faq.build_router),)),
    Capability(
        "tickets",  # "ask the IT officer"
        routers=(RouterSpec(tickets_handlers.build_router),),
        # Unanswered questions: the IT officer's daily list, then the director (bot/services/tickets_escalation.py).
        sweeps=(SweepSpec("questions", lambda s: s.question_escalation.sweep, 55),),
        admin_actions=(
            AdminEntry("tickets", "help.admin.tickets", 80), AdminEntry("faq_reload", "help.admin.faq_reload", 90),
        ),
    ),
    Capability(
        "training",  # training sessions and parent meetings
        routers=(RouterSpec(training_handlers.build_router),),
        sweeps=(SweepSpec("training", lambda s: s.training.send_due_reminders, 50),),
        importers=(ImporterSpec(lambda s: s.training.importer, 50),),
        renderers=(RendererSpec(TRAINING_RENDERER, lambda s: s.training.render_attendance),),
        admin_actions=(AdminEntry("training", "help.admin.training", 100),),
    ),
    Capability(
        "surveys",  # issue #26: the plan's own questions (items 1, 2, 11-14), results into item 18
        # After the plan's, consent's and codes' sweeps: a survey reminder keeps to the one nudge a
        # person a day that those have used or left (bot/services/surveys_nudges.py).
        routers=(RouterSpec(surveys_handlers.build_router), RouterSpec(surveys_admin.build_router, staff=True)),
        sweeps=(SweepSpec("surveys", lambda s: s.survey_nudges.sweep, 70),),
        admin_actions=(AdminEntry("surveys", "surveys.admin.action", 105),),
    ),
    Capability(
        "acks",  # issue #26: «Ознакомлен(а)» under a broadcast or a plan document, coverage per class
        routers=(RouterSpec(acks_handlers.build_router), RouterSpec(acks_admin.build_router, staff=True)),
        renderers=(RendererSpec(ACK_RENDERER, lambda s: s.acks.render_document),),
    ),
    Capability(
        "catch_all",  # last by construction: free-text search, then the fallback
        routers=(RouterSpec(search.build_router), RouterSpec(fallback.build_router)),
    ),
)


def build_routers(capabilities: Sequence[Capability] = CAPABILITIES) -> list[Router]:
    """Every capability's routers in order; the staff-only ones in one group where the first stands.
    The group lets parents, pupils and unknown users skip every staff router at one check."""
    result: list[Router] = []
    staff: Router | None = None
    for capability in capabilities:
        for spec in capability.routers:
            if not spec.staff:
                result.append(spec.build())
                continue
            if staff is None:
                staff = Router(name="staff")
                staff.message.filter(IsStaff())
                staff.callback_query.filter(IsStaff())
                result.append(staff)
            staff.include_router(spec.build())
    return result


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
    return {spec.name: spec.build(services) for c in capabilities for spec in c.data}


def consent_listeners(
    services: Services, capabilities: Sequence[Capability] = CAPABILITIES
) -> list[ConsentGivenListener]:
    return [listener(services) for c in capabilities for listener in c.consent_listeners]


def link_listeners(services: Services, capabilities: Sequence[Capability] = CAPABILITIES) -> list[PersonLinkedListener]:
    return [listener(services) for c in capabilities for listener in c.link_listeners]


def cli_commands(capabilities: Sequence[Capability] = CAPABILITIES) -> list[CliCommands]:
    return [register for c in capabilities for register in c.cli]
