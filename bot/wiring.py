"""The composition root's wiring: every capability's service built once, in dependency order, each
with only what it needs (constructor injection). `Services` is what the root holds; handlers never
see it: each asks for the one service it calls, by the field's name and type
(`consent: ConsentService`), and bot.tg.middlewares.Dependencies hands it over. Only entry points
(bot/app.py, bot/capabilities.py, the CLI, the sandbox, the bench and the tests' harness) import
this module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from bot.clock import Clock
from bot.config import SchoolConfig, Settings
from bot.i18n import Catalog
from bot.services.access_log import AccessLog
from bot.services.acks import AcksService
from bot.services.analysis import AnalysisService
from bot.services.archive import ArchiveService
from bot.services.backup import BackupService
from bot.services.broadcast import BroadcastService
from bot.services.codes import CodesService
from bot.services.codes_import import CodesImport
from bot.services.codes_nudges import CodesNudges
from bot.services.codes_print import CodesPrint
from bot.services.consent import ConsentService
from bot.services.consent_evidence import ConsentEvidence
from bot.services.consent_export import ConsentExport
from bot.services.consent_gate import ConsentGate
from bot.services.consent_nudges import ConsentNudges
from bot.services.consent_paper import ConsentPaper
from bot.services.consent_registers import ConsentRegisters
from bot.services.consent_withdrawal import ConsentWithdrawal
from bot.services.faq import FaqLibrary
from bot.services.imports import RosterImport
from bot.services.ledger import LedgerService
from bot.services.onboarding import OnboardingService
from bot.services.ops import OpsService
from bot.services.outbox import Outbox
from bot.services.ports import Buttons, ConsentGivenListener, PersonLinkedListener
from bot.services.reminders import Reminders
from bot.services.report import ReportService
from bot.services.repos import People, Repositories
from bot.services.retention import RetentionService
from bot.services.school_year import SchoolYearService
from bot.services.send_log_export import SendLogExport
from bot.services.status import StatusService
from bot.services.subject_report import SubjectReport
from bot.services.surveys import SurveysService
from bot.services.surveys_findings import SurveyFindings
from bot.services.surveys_nudges import SurveyNudges
from bot.services.surveys_results import SurveyResults
from bot.services.task_actions import TaskActions
from bot.services.tasks import TasksService
from bot.services.tasks_import import TasksImport
from bot.services.tickets import TicketsService
from bot.services.tickets_escalation import QuestionEscalation
from bot.services.training import TrainingService
from storage.sql import SqlDatabase

S = TypeVar("S")


@dataclass(frozen=True, kw_only=True)
class Services:
    # What every capability is built from, beside the services themselves (for handler-side objects
    # a capability declares, see bot/capabilities.py `DataSpec`).
    school: SchoolConfig
    people: People
    outbox: Outbox
    access_log: AccessLog
    tickets: TicketsService
    question_escalation: QuestionEscalation
    codes: CodesService
    codes_print: CodesPrint
    tasks_import: TasksImport
    tasks: TasksService
    status: StatusService
    analysis: AnalysisService
    archive: ArchiveService
    backup: BackupService
    broadcast: BroadcastService
    codes_import: CodesImport
    codes_nudges: CodesNudges
    consent: ConsentService
    consent_paper: ConsentPaper
    consent_registers: ConsentRegisters
    consent_export: ConsentExport
    consent_gate: ConsentGate
    consent_nudges: ConsentNudges
    consent_withdrawal: ConsentWithdrawal
    consent_evidence: ConsentEvidence
    roster_import: RosterImport
    ledger: LedgerService
    onboarding: OnboardingService
    reminders: Reminders
    report: ReportService
    retention: RetentionService
    subject_report: SubjectReport
    school_year: SchoolYearService
    send_log_export: SendLogExport
    task_actions: TaskActions
    training: TrainingService
    ops: OpsService
    surveys: SurveysService
    survey_results: SurveyResults
    survey_nudges: SurveyNudges
    acks: AcksService

    def items(self) -> Iterator[tuple[str, Any]]:
        """(name, service) pairs: the names handlers ask the Dispatcher for."""
        for f in fields(self):
            yield f.name, getattr(self, f.name)

    def get(self, kind: type[S]) -> S:
        """The one service of a class (a CLI command names the class it runs on)."""
        for _, service in self.items():
            if isinstance(service, kind):
                return service
        raise LookupError(kind.__name__)


def build_services(
    *,
    settings: Settings,
    school: SchoolConfig,
    db: SqlDatabase,
    clock: Clock,
    catalog: Catalog,
    repos: Repositories,
    buttons: Buttons,
    faq_library: FaqLibrary,
    wake_sender: Callable[[], None],
    consent_listeners: list[ConsentGivenListener],
    link_listeners: list[PersonLinkedListener],
) -> Services:
    """Each service gets exactly the collaborators it names. The listener lists are filled by the
    root once every service exists (a listener is a method of a service built after the one that
    calls it)."""
    access_log = AccessLog(access_log_repo=repos.access_log, clock=clock, db=db, school=school)
    outbox = Outbox(clock=clock, db=db, queue=repos.outbox_queue, wake_sender=wake_sender)
    consent_gate = ConsentGate(
        db=db, people=repos.people, ledger=repos.consent_ledger, forms=repos.consent_forms,
    )
    tickets = TicketsService(
        buttons=buttons, catalog=catalog, clock=clock, db=db, faq_library=faq_library, help=repos.tickets,
        outbox=outbox, people=repos.people, school=school,
    )
    codes = CodesService(
        consent_gate=consent_gate,
        buttons=buttons, catalog=catalog, clock=clock, code_repo=repos.codes, db=db, outbox=outbox, people=repos.people,
        school=school, tickets=tickets,
    )
    codes_print = CodesPrint(
        consent_gate=consent_gate,
        access_log=access_log, catalog=catalog, clock=clock, code_repo=repos.codes, codes=codes, db=db,
        people=repos.people,
    )
    tasks_import = TasksImport(clock=clock, db=db, plan_repo=repos.plan, school=school)
    tasks = TasksService(
        catalog=catalog, db=db, ops_repo=repos.ops, people=repos.people, plan_repo=repos.plan, school=school,
        tasks_import=tasks_import,
    )
    question_escalation = QuestionEscalation(
        catalog=catalog, clock=clock, db=db, help=repos.tickets, outbox=outbox, people=repos.people, school=school,
    )
    status = StatusService(
        consent_gate=consent_gate,
        clock=clock, code_repo=repos.codes, codes_print=codes_print, db=db, ops_repo=repos.ops,
        question_escalation=question_escalation, school=school, tasks=tasks, destructions=repos.destructions,
    )
    survey_findings = SurveyFindings(ack_repo=repos.acks, db=db, people=repos.people, survey_repo=repos.surveys)
    analysis = AnalysisService(
        access_log=access_log, analysis_repo=repos.analysis, clock=clock, db=db, faq_library=faq_library,
        school=school, status=status, survey_findings=survey_findings, tasks=tasks,
    )
    archive = ArchiveService(
        access_log=access_log, buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox, people=repos.people,
        school=school, year_repo=repos.year,
    )
    backup = BackupService(
        access_log=access_log, backups=repos.backups, clock=clock, db=db, ops_repo=repos.ops, school=school,
        settings=settings,
    )
    broadcast = BroadcastService(
        catalog=catalog, clock=clock, db=db, outbox=outbox, outbox_repo=repos.outbox, people=repos.people,
    )
    codes_import = CodesImport(
        clock=clock, codes=codes, db=db, people=repos.people, school=school, code_repo=repos.codes,
    )
    codes_nudges = CodesNudges(
        buttons=buttons, catalog=catalog, code_repo=repos.codes, codes=codes, db=db, outbox=outbox,
        people=repos.people, school=school, consent_ledger=repos.consent_ledger, outbox_queue=repos.outbox_queue,
    )
    consent_withdrawal = ConsentWithdrawal(
        access_log=access_log, buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox,
        people=repos.people, school=school, consent_ledger=repos.consent_ledger, code_repo=repos.codes,
        destructions=repos.destructions,
    )
    consent_evidence = ConsentEvidence(
        access_log=access_log, clock=clock, db=db, people=repos.people, school=school,
        consent_forms=repos.consent_forms, consent_ledger=repos.consent_ledger,
    )
    consent = ConsentService(
        consent_gate=consent_gate,
        catalog=catalog, clock=clock, consent_listeners=consent_listeners, consent_withdrawal=consent_withdrawal,
        db=db, outbox=outbox, people=repos.people, school=school, consent_forms=repos.consent_forms,
        consent_ledger=repos.consent_ledger, code_repo=repos.codes,
    )
    consent_paper = ConsentPaper(
        consent_gate=consent_gate,
        clock=clock, consent=consent, db=db, people=repos.people, school=school, consent_forms=repos.consent_forms,
    )
    consent_registers = ConsentRegisters(
        consent_gate=consent_gate,
        consent=consent, consent_paper=consent_paper, db=db, people=repos.people, consent_ledger=repos.consent_ledger,
    )
    consent_export = ConsentExport(
        access_log=access_log, clock=clock, consent=consent, consent_registers=consent_registers, school=school,
    )
    consent_nudges = ConsentNudges(
        consent_gate=consent_gate,
        buttons=buttons, catalog=catalog, clock=clock, consent=consent, db=db, outbox=outbox, people=repos.people,
        school=school, consent_ledger=repos.consent_ledger, code_repo=repos.codes,
    )
    roster_import = RosterImport(clock=clock, db=db, people=repos.people, year_repo=repos.year)
    ledger = LedgerService(
        catalog=catalog, clock=clock, consent_ledger=repos.consent_ledger, db=db, outbox=outbox, people=repos.people,
    )
    onboarding = OnboardingService(
        clock=clock, db=db, link_listeners=link_listeners, messengers=repos.messengers, people=repos.people,
        settings=settings, accounts=repos.accounts, link_tokens=repos.link_tokens,
    )
    reminders = Reminders(
        buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox, plan_repo=repos.plan, school=school,
        tasks=tasks,
    )
    report = ReportService(
        access_log=access_log, analysis=analysis, backup=backup, catalog=catalog, clock=clock,
        consent_export=consent_export, db=db, ops_repo=repos.ops, school=school, status=status, tasks=tasks,
    )
    retention = RetentionService(
        catalog=catalog, clock=clock, db=db, retention_repo=repos.retention, school=school, settings=settings,
    )
    subject_report = SubjectReport(
        access_log=access_log, clock=clock, db=db, people=repos.people, school=school, subject_repo=repos.subject,
    )
    school_year = SchoolYearService(
        clock=clock, db=db, plan_repo=repos.plan, school=school, tasks_import=tasks_import, year_repo=repos.year,
        consent_ledger=repos.consent_ledger,
    )
    send_log_export = SendLogExport(
        access_log=access_log, clock=clock, db=db, messengers=repos.messengers, school=school,
    )
    task_actions = TaskActions(
        buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox, people=repos.people, plan_repo=repos.plan,
        school=school, tasks=tasks,
    )
    training = TrainingService(
        access_log=access_log, buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox, people=repos.people,
        school=school, training_repo=repos.training,
    )
    ops = OpsService(
        school=school, db=db, people=repos.people, catalog=catalog, outbox=outbox, backup=backup, ops_repo=repos.ops,
    )
    surveys = SurveysService(
        buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox, people=repos.people, school=school,
        survey_repo=repos.surveys,
    )
    survey_results = SurveyResults(access_log=access_log, db=db, survey_repo=repos.surveys)
    survey_nudges = SurveyNudges(
        buttons=buttons, catalog=catalog, db=db, outbox=outbox, people=repos.people, plan_repo=repos.plan,
        school=school, surveys=surveys, survey_repo=repos.surveys, survey_results=survey_results,
        task_actions=task_actions, tasks=tasks, consent_ledger=repos.consent_ledger, code_repo=repos.codes,
    )
    acks = AcksService(
        ack_repo=repos.acks, broadcast=broadcast, buttons=buttons, catalog=catalog, clock=clock, db=db, outbox=outbox,
        people=repos.people, school=school, task_actions=task_actions, tasks=tasks,
    )
    return Services(
        school=school, people=repos.people,
        outbox=outbox, access_log=access_log,
        tickets=tickets, question_escalation=question_escalation, codes=codes, codes_print=codes_print,
        tasks_import=tasks_import, tasks=tasks,
        status=status, analysis=analysis, archive=archive, backup=backup, broadcast=broadcast,
        codes_import=codes_import, codes_nudges=codes_nudges, consent=consent, consent_paper=consent_paper,
        consent_registers=consent_registers, consent_export=consent_export, consent_gate=consent_gate,
        consent_nudges=consent_nudges, consent_withdrawal=consent_withdrawal, consent_evidence=consent_evidence,
        roster_import=roster_import, ledger=ledger, onboarding=onboarding,
        reminders=reminders, report=report, retention=retention, subject_report=subject_report, school_year=school_year,
        send_log_export=send_log_export, task_actions=task_actions, training=training, ops=ops, surveys=surveys,
        survey_results=survey_results, survey_nudges=survey_nudges, acks=acks,
    )
