"""The repositories services read through, as Protocols (#27): services hold these, storage's
repositories implement them (each Protocol names the one that does, e.g. storage.people.PersonRepo
is `People`; tests/test_layering.py PORTED_REPOS lists them all), and a backend with a pool
(PostgreSQL) would bring its own. What must run in the caller's transaction (its writes, and the
reads that must see them) takes the handle as its first parameter (`YearRecords.move_person(tx, ...)`):
the storage classes implement those as static methods, which an instance satisfies, so storage's own
callers keep calling them by class. Services never name a storage class (tests/test_layering.py).
`Repositories` bundles every port for bot/core.py and bot/wiring.py. Only the kernel's and the
domain's types are imported here (nothing from storage), so any service may name these without an
import cycle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from bot.channels import Channel, DataClass
from bot.domain import chain
from bot.domain.access_log import AccessRow
from bot.domain.acks import Campaign, Confirmation, Target
from bot.domain.analysis import EditedTasks
from bot.domain.codes import Code, FunnelCounts, NewCode, NudgeCandidate, RoleGroup
from bot.domain.destruction import Destruction
from bot.domain.help import FaqExtra, Invitee, ReminderKind, Session, SessionAudience, Ticket
from bot.domain.ledger import LedgerRow, NewDecision, Original, Read, Version
from bot.domain.messages import Kind, Payload
from bot.domain.ops import Attendance, CarrySet, DbBackup, JournalBackup, PersonRow, ReceiptInfo
from bot.domain.people import MergeReport, Person, RosterRecord
from bot.domain.plan import Deadline, PlanItem, Proof
from bot.domain.retention import Candidate
from bot.domain.subject import CodeEntry, LedgerEntry, Reference, SentEntry, TicketEntry
from bot.domain.surveys import Answer, Respondent, SurveyRow
from bot.domain.tokens import LinkToken
from bot.domain.year import ArchiveCheck, PersonClass, RosterPerson, YearRecord
from bot.reach import Reach, SendRecord
from bot.unit_of_work import Connection, Transaction, UnitOfWork


class People(Protocol):
    """The roster as services read it: people, their families and classes. Only active people
    unless a method says otherwise (`get`, `get_many` and `by_key` find the inactive too). Reads go
    to the unit of work's read handle; `on(conn)` gives the same reads on a transaction, for a
    caller that must see what it has written and not committed (the account it just linked).
    mypy checks that PersonRepo satisfies it where bot/core.py hands one to build_services."""

    def on(self, conn: Connection) -> People: ...

    async def get(self, person_id: int) -> Person | None: ...

    async def get_many(self, ids: Iterable[int]) -> list[Person]: ...

    async def by_account(self, channel: Channel, user_id: int) -> Person | None: ...

    async def by_phone(self, phone: str) -> list[Person]: ...

    async def by_key(self, roster_key: str) -> Person | None: ...

    async def active(self) -> list[Person]: ...

    async def with_role(self, role: str, class_label: str | None = None) -> list[Person]: ...

    async def children(self, parent_id: int) -> list[Person]: ...

    async def parents(self, child_id: int) -> list[Person]: ...

    async def parents_of_class(self, class_label: str) -> list[Person]: ...

    async def classes(self) -> list[str]:
        """The classes that have active pupils, in school order."""
        ...

    async def children_classes(self) -> dict[int, frozenset[str]]:
        """Parent id -> the classes of their active children."""
        ...

    async def count_active(self) -> int: ...

    async def unclaimed_it_officers(self, channel: Channel = Channel.TELEGRAM) -> list[Person]: ...

    async def bootstrap_admins(self) -> list[Person]: ...

    async def unreachable(self) -> list[Person]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def set_lang(self, conn: Transaction, person_id: int, lang: str | None, now: datetime) -> None: ...

    async def create(
        self,
        conn: Transaction,
        *,
        roster_key: str,
        full_name: str,
        roles: Iterable[str],
        now: datetime,
        class_label: str | None = None,
        phone: str | None = None,
    ) -> int: ...

    async def active_children_ids(self, conn: Connection, parent_ids: Iterable[int]) -> dict[int, list[int]]:
        """Each parent's active children (ids, in the order `children` lists them), read on `conn`:
        inside a write transaction it sees that transaction's rows (the consent gate's reads)."""
        ...

    async def id_by_key(self, conn: Connection, roster_key: str) -> int | None: ...

    async def reactivate(self, conn: Transaction, person_id: int, now: datetime) -> None: ...

    async def add_role(self, conn: Transaction, person_id: int, role: str) -> None: ...

    async def snapshot(self, conn: Connection) -> dict[str, RosterRecord]:
        """The roster as it is, keyed like an import, read inside the import's transaction."""
        ...

    async def apply_roster(
        self, conn: Transaction, records: Sequence[RosterRecord], *, deactivate_missing: bool, now: datetime
    ) -> None:
        """Upsert every record by roster key; messenger accounts and ids survive."""
        ...

    async def merge(self, conn: Transaction, *, duplicate_id: int, into_id: int, now: datetime) -> MergeReport:
        """Merge the duplicate record into the kept one (accounts, roles, every reference), in the
        caller's transaction."""
        ...


class Tickets(Protocol):
    """Questions to the IT officer and the FAQ entries made from them, as the tickets service and
    the escalation read them, and, given the caller's transaction (or connection) as their first
    parameter, the ticket's and the FAQ entry's writes. mypy checks that HelpRepo satisfies it where
    bot/core.py hands one to build_services."""

    async def ticket(self, ticket_id: int) -> Ticket | None: ...

    async def unclosed_tickets(self, limit: int = 50) -> list[Ticket]: ...

    async def unchecked_faq_tickets(self, limit: int = 20) -> list[Ticket]:
        """Tickets whose FAQ entry no IT officer has checked for personal data."""
        ...

    async def ticket_for_notice(self, channel: str, user_id: int, message_id: int) -> int | None:
        """The ticket whose notice was delivered as this message to this messenger account."""
        ...

    async def faq_extras(self) -> list[FaqExtra]: ...

    async def faq_extra(self, extra_id: int) -> FaqExtra | None: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def insert_ticket(
        self, conn: Transaction, *, asker_id: int, text: str, context: str | None, now: datetime
    ) -> int: ...

    async def ticket_in(self, conn: Connection, ticket_id: int) -> Ticket | None: ...

    async def record_answer(self, conn: Transaction, ticket_id: int, *, answer: str, by: int, now: datetime) -> int:
        """Stores the answer; returns its ordinal (1 for the first answer)."""
        ...

    async def close_ticket(self, conn: Transaction, ticket_id: int, now: datetime) -> bool: ...

    async def insert_faq_extra(
        self,
        conn: Transaction,
        *,
        ticket_id: int | None,
        audience: Iterable[str],
        question: str,
        answer: str,
        created_by: int | None,
        now: datetime,
        checked: bool = False,
    ) -> int:
        """``checked``: ``created_by`` stated it carries no personal data (recorded as who and when)."""
        ...

    async def check_faq_extra(
        self, conn: Transaction, extra_id: int, *, question: str, answer: str, by: int, now: datetime
    ) -> bool:
        """An entry not yet checked gets the (rewritten) texts and who checked it; False if it was."""
        ...


class InvitationCodes(Protocol):
    """Invitation codes as the codes services and the status read them, outside a transaction, and,
    given the caller's transaction (or connection) as their first parameter, the reads a transaction
    must see (`active_in`, `code_owners`, `delivery_keys`, `last_nudge_to`) and the writes. mypy
    checks that CodeRepo satisfies it where bot/core.py hands one to build_services."""

    async def get(self, code_id: int) -> Code | None: ...

    async def active_for(self, person_ids: Iterable[int]) -> list[Code]: ...

    async def history(self, person_id: int) -> list[Code]: ...

    async def for_print(self, class_label: str, *, role: RoleGroup, only_unlinked: bool) -> list[tuple[Code, int]]:
        """Active codes for a class's print sheet, with the owner's id, by owner name."""
        ...

    async def holders(self) -> list[tuple[int, str, str | None]]:
        """(owner id, role, class) of every active code of an active person (no code values)."""
        ...

    async def nudge_candidates(self) -> list[NudgeCandidate]: ...

    async def last_request(self, requester_id: int, target_id: int) -> datetime | None: ...

    async def funnel(self) -> list[FunnelCounts]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def active_in(self, conn: Connection, person_ids: Iterable[int] | None = None) -> list[Code]: ...

    async def code_owners(self, conn: Connection, values: Iterable[str]) -> dict[str, int]:
        """Active code value -> owner id, for the values given."""
        ...

    async def insert(
        self, conn: Transaction, new: NewCode, *, source: str, now: datetime
    ) -> tuple[int, Code | None]:
        """Make `new` the person's active code for its role; the previous one, if any, is recorded
        as replaced. Returns (new id, the replaced code)."""
        ...

    async def update_class(self, conn: Transaction, code_id: int, class_label: str | None) -> None: ...

    async def revoke(self, conn: Transaction, code_id: int, now: datetime) -> bool: ...

    async def cancel_pending_deliveries(self, conn: Transaction, code_ids: Sequence[int]) -> int:
        """Cancel the outbox messages of these codes that have not gone out yet (cards, nudges)."""
        ...

    async def mark_activated(self, conn: Transaction, code_id: int, via: str, now: datetime) -> bool: ...

    async def delivery_keys(
        self, conn: Connection, code_id: int, recipient_id: int
    ) -> list[tuple[str, str | None]]: ...

    async def record_delivery(
        self,
        conn: Transaction,
        *,
        code_id: int,
        recipient_id: int,
        reason: str,
        now: datetime,
        outbox_key: str | None = None,
        tg_message_id: int | None = None,
    ) -> None: ...

    async def record_nudge(self, conn: Transaction, code_id: int, recipient_id: int, n: int, now: datetime) -> bool: ...

    async def last_nudge_to(self, conn: Connection, recipient_id: int) -> datetime | None:
        """When the latest activation reminder to this person was enqueued (any code)."""
        ...

    async def touch_request(self, conn: Transaction, requester_id: int, target_id: int, now: datetime) -> None: ...


class Surveys(Protocol):
    """Surveys, their respondents, answers and reminders, as the survey services read them outside a
    transaction, and, given the caller's transaction as their first parameter, the reads it must see
    (`reminded_on`) and the writes. mypy checks that SurveyRepo satisfies it where
    bot/core.py hands one to build_services."""

    async def forget_overwritten(self) -> None:
        """After an anonymous survey's close (between write transactions): the rows it overwrote
        leave no copy behind (in the file nor in a log the backend keeps)."""
        ...

    async def get(self, survey_id: int) -> SurveyRow | None: ...

    async def all(self) -> list[SurveyRow]: ...

    async def open_at(self, now: datetime) -> list[SurveyRow]: ...

    async def due_to_close(self, now: datetime) -> list[SurveyRow]: ...

    async def of_person(self, person_id: int) -> list[tuple[SurveyRow, Respondent]]: ...

    async def respondent(self, survey_id: int, person_id: int) -> Respondent | None: ...

    async def respondents(self, survey_id: int) -> list[Respondent]: ...

    async def answers_of(self, survey_id: int, person_id: int) -> dict[int, Any]: ...

    async def answers(self, survey_id: int) -> list[Answer]: ...

    async def reminders(self, survey_id: int) -> dict[int, set[int]]:
        """person id -> which reminders (n) they have had for this survey."""
        ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def insert(
        self, conn: Transaction, *, title: str, template: str | None, spec: dict[str, Any], plan_item: str | None,
        audience: str, audience_value: str, anonymous: bool, data_class: str, author_id: int | None,
        now: datetime, deadline: datetime,
    ) -> int: ...

    async def add_respondents(
        self, conn: Transaction, survey_id: int, rows: Iterable[tuple[int, str, str | None]]
    ) -> None: ...

    async def put_answer(
        self, conn: Transaction, survey_id: int, respondent: Respondent, question: int, value: Any, now: datetime
    ) -> None: ...

    async def mark_finished(self, conn: Transaction, survey_id: int, person_id: int, now: datetime) -> bool: ...

    async def record_reminder(
        self, conn: Transaction, survey_id: int, person_id: int, n: int, day: date, now: datetime
    ) -> bool: ...

    async def reminded_on(self, conn: Connection, person_id: int, day: date) -> bool: ...

    async def close(self, conn: Transaction, survey: SurveyRow, now: datetime) -> None:
        """Close the survey. An anonymous one keeps no link between a person and an answer: its answers
        are deleted and written again without the person, without times, in a random order, under a
        random sheet per respondent, and with the class (role) only where at least MIN_GROUP people of
        that class (role) answered; the respondents keep only whether they finished, not when."""
        ...

    async def cancel_reminders(self, conn: Transaction, survey_id: int, person_id: int) -> None:
        """A reminder still waiting in the outbox is dropped once its person has answered."""
        ...


class OpsRecords(Protocol):
    """The ops tables as the status, the report, the plan's tasks, the nightly backup and the ops
    minute read them: journal and database backups, the roster in one query, open questions and
    training attendance (None before their tables exist). Journal backups are written in the
    caller's transaction (the handle first); a database backup's attempt is recorded on its own.
    mypy checks that OpsRepo satisfies it where bot/core.py hands one to build_services."""

    async def table_exists(self, name: str) -> bool: ...

    async def journal_backups(self, school_year: int | None = None) -> list[JournalBackup]: ...

    async def last_journal_backup(self) -> JournalBackup | None: ...

    async def quarter_has_backup(self, school_year: int, quarter: int) -> bool: ...

    async def record_db_backup(
        self, *, path: str, size_bytes: int, ok: bool, detail: str | None, local_day: str, now: datetime
    ) -> None:
        """One attempt of the nightly database backup, in a transaction of its own."""
        ...

    async def has_db_backup_on(self, local_day: str) -> bool: ...

    async def db_backup_attempts_on(self, local_day: str) -> int: ...

    async def last_db_backup(self, *, ok_only: bool = False) -> DbBackup | None: ...

    async def db_backup_log(self, limit: int = 60) -> list[DbBackup]: ...

    async def roster_rows(self) -> list[PersonRow]:
        """Every active person with roles and link state."""
        ...

    async def guardian_pairs(self) -> list[tuple[int, int]]: ...

    async def open_ticket_count(self) -> int | None: ...

    async def training_attendance(self) -> list[Attendance] | None: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def log_journal_backup(
        self,
        conn: Transaction,
        *,
        school_year: int,
        quarter: int,
        medium_label: str,
        logged_by: int | None,
        now: datetime,
    ) -> int:
        """Call inside `Database.transaction()`."""
        ...

    async def attach_journal_photo(self, conn: Transaction, backup_id: int, file_id: str) -> None: ...


class TrainingSessions(Protocol):
    """Training sessions and parent meetings and their invitees, as the training service reads them
    outside a transaction, and their writes, given the caller's transaction as their first parameter.
    mypy checks that HelpRepo satisfies it where bot/core.py hands one to build_services."""

    async def session(self, session_id: int) -> Session | None: ...

    async def sessions_after(self, moment: datetime, limit: int = 20) -> list[Session]: ...

    async def recent_sessions(self, moment: datetime, limit: int = 10) -> list[Session]:
        """Sessions that already started, newest first."""
        ...

    async def invitee(self, session_id: int, person_id: int) -> Invitee | None: ...

    async def invitees(self, session_id: int) -> list[Invitee]: ...

    async def due_reminders(self, now: datetime) -> list[tuple[Session, ReminderKind]]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def insert_session(
        self,
        conn: Transaction,
        *,
        title: str,
        audience: SessionAudience,
        class_label: str | None,
        starts_at: datetime,
        place: str,
        created_by: int | None,
        evening_at: datetime | None,
        hour_at: datetime | None,
        now: datetime,
        public_text: bool = False,
    ) -> int: ...

    async def add_invitees(self, conn: Transaction, session_id: int, person_ids: Iterable[int]) -> None: ...

    async def set_rsvp(
        self, conn: Transaction, session_id: int, person_id: int, rsvp: Literal["yes", "no"], now: datetime
    ) -> bool: ...

    async def set_attended(self, conn: Transaction, session_id: int, person_id: int, attended: bool | None) -> bool: ...

    async def mark_reminder_done(
        self, conn: Transaction, session_id: int, kind: ReminderKind, now: datetime
    ) -> None: ...


class PlanRecords(Protocol):
    """The plan as services read it: its year, items, proofs, and what reminders, snoozes, digests
    and plan messages were already sent. Reads go to the unit of work's read handle; `on(conn)`
    gives the same reads on a transaction (the plan a new year moves, as that transaction sees it).
    The writes take the caller's transaction as their first parameter. mypy checks that TaskRepo
    satisfies it where bot/core.py hands one to build_services."""

    def on(self, conn: Connection) -> PlanRecords: ...

    async def plan_year(self) -> int | None: ...

    async def items(self) -> list[PlanItem]: ...

    async def item(self, number: str) -> PlanItem | None: ...

    async def proofs(self, item_number: str | None = None) -> list[Proof]: ...

    async def proof(self, proof_id: int) -> Proof | None: ...

    async def reminder_log(self) -> set[tuple[str, str, int, str]]:
        """(item, occurrence, person id, kind) of every reminder sent."""
        ...

    async def due_snoozes(self, now: datetime) -> list[tuple[int, str, str, int]]: ...

    async def digest_sent(self, week: str) -> set[int]: ...

    async def plan_days(self, day: date) -> set[int]:
        """Who already got their plan message on this school-local day."""
        ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def log_plan_day(self, conn: Transaction, person_id: int, day: date, now: datetime) -> bool: ...

    async def existing_items(self, conn: Connection) -> dict[str, tuple[PlanItem, bool]]:
        """Every stored item, active or not, with its active flag."""
        ...

    async def save_plan(
        self,
        conn: Transaction,
        items: Sequence[PlanItem],
        *,
        title: str,
        order: str,
        school_year: int,
        now: datetime,
    ) -> None: ...

    async def update_deadline(self, conn: Transaction, number: str, deadline: Deadline, now: datetime) -> None: ...

    async def update_roles(self, conn: Transaction, number: str, roles: Sequence[str], now: datetime) -> None: ...

    async def add_proof(
        self,
        conn: Transaction,
        *,
        item_number: str,
        occurrence_key: str,
        person_id: int,
        kind: str,
        body: str | None,
        file_id: str | None,
        file_unique_id: str | None,
        file_name: str | None,
        now: datetime,
    ) -> int: ...

    async def review_proof(
        self, conn: Transaction, proof_id: int, *, status: str, reviewer_id: int, comment: str | None, now: datetime
    ) -> bool:
        """Only a submitted proof can be reviewed; False when someone else already did."""
        ...

    async def log_reminder(
        self, conn: Transaction, item_number: str, occurrence_key: str, person_id: int, kind: str, now: datetime
    ) -> bool: ...

    async def add_snooze(
        self, conn: Transaction, item_number: str, occurrence_key: str, person_id: int, at: datetime, now: datetime
    ) -> int: ...

    async def log_digest(self, conn: Transaction, week: str, person_id: int, now: datetime) -> bool: ...


class AckCampaigns(Protocol):
    """Acknowledgement ("ознакомлен") campaigns, their targets and confirmations, as the acks
    service and the item-18 findings read them; the writes take the caller's transaction as their
    first parameter. mypy checks that AckRepo satisfies it where bot/core.py hands one to
    build_services."""

    async def get(self, campaign_id: int) -> Campaign | None: ...

    async def all(self) -> list[Campaign]: ...

    async def document(self, campaign_id: int) -> tuple[bytes, str] | None:
        """A campaign's document: its bytes and file name."""
        ...

    async def targets(self, campaign_id: int) -> list[Target]: ...

    async def target(self, campaign_id: int, person_id: int) -> Target | None: ...

    async def confirmations(self, campaign_id: int) -> dict[int, Confirmation]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def insert(
        self, conn: Transaction, *, title: str, body: str, document: bytes | None, file_name: str | None,
        sha256: str, plan_item: str | None, audience: str, author_id: int | None, now: datetime,
        public_title: bool = False,
    ) -> int: ...

    async def add_targets(self, conn: Transaction, campaign_id: int, rows: Iterable[Target]) -> None: ...

    async def confirm(
        self, conn: Transaction, campaign_id: int, person_id: int, sha256: str, channel: str, now: datetime
    ) -> bool:
        """The first confirmation stands (a second press changes nothing): True when it is new."""
        ...

    async def record_reminder(
        self, conn: Transaction, campaign_id: int, class_label: str, day: date, by_id: int | None,
        recipients: int, now: datetime,
    ) -> bool: ...


class OutboxRecords(Protocol):
    """The outbox and broadcasts as the broadcast service sees them: the queue's counts and its dead
    letters, and the two writes it makes on its own (a broadcast's progress message, dead letters
    back in the queue), each in a transaction of its own. The sender's claims and marks are not
    here: they belong to the messenger-facing package. mypy checks that DeliveryRepo satisfies it
    where bot/core.py hands one to build_services."""

    async def counts(self) -> dict[str, int]:
        """Outbox rows by status."""
        ...

    async def dead_by_error(self, limit: int = 5) -> list[tuple[str, int]]: ...

    async def requeue_dead(self, now: datetime) -> int:
        """Every dead letter a fresh set of attempts, due now; how many."""
        ...

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def create_broadcast(
        self, conn: Transaction, *, created_by: int | None, audience: str, text: str, total: int,
        reachable: int, now: datetime,
    ) -> int: ...


class Messengers(Protocol):
    """A person's messenger accounts as onboarding reads them (which messengers reach them, which
    one they prefer) and the log of every send, for its export. Choosing the preferred messenger
    takes the caller's transaction as its first parameter. mypy checks that
    MessengerRepo satisfies it where bot/core.py hands one to build_services."""

    async def reach(self, person_id: int) -> Reach | None: ...

    async def send_log(self, since: datetime | None = None) -> list[SendRecord]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def set_preferred(self, conn: Transaction, person_id: int, channel: Channel, now: datetime) -> bool:
        """Choose the channel messages go to; refused (False) when the person is not linked there."""
        ...


class AnalysisRecords(Protocol):
    """What the item-18 analysis reads and keeps: every question asked through the bot (for its
    topics) and the next year's tasks as staff edited them, saved in a transaction of its own.
    mypy checks that AnalysisRepo satisfies it where bot/core.py hands one to build_services."""

    async def ticket_texts(self) -> list[str]:
        """Every question asked through the bot, oldest first."""
        ...

    async def edited_tasks(self, school_year: int) -> EditedTasks | None: ...

    async def save_tasks(self, school_year: int, text: str, *, by: int | None, now: datetime) -> None: ...


class RetentionRecords(Protocol):
    """Whom the retention terms are due for (people who left, withdrawn consents, before a cutoff)
    and whether tonight's purge already ran; the purge and its records take the caller's
    transaction as their first parameter. mypy checks that RetentionRepo satisfies it where
    bot/core.py hands one to build_services."""

    async def left_before(self, cutoff: datetime) -> list[Candidate]: ...

    async def withdrawals_before(self, cutoff: datetime) -> list[Candidate]: ...

    async def ran_on(self, local_day: str) -> bool: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def purge(
        self, conn: Transaction, candidate: Candidate, *, pseudonym: str, now: datetime, actor: int | None,
        channel: str,
    ) -> dict[str, int]:
        """Remove the candidate's data, write the destruction record; returns the counts by kind."""
        ...

    async def record(
        self, conn: Transaction, *, now: datetime, reason: str, person_id: int | None, withdrawal_row: int | None,
        what: Mapping[str, object], actor: int | None, channel: str,
    ) -> None: ...

    async def mark_run(self, conn: Transaction, local_day: str, now: datetime) -> None: ...


class YearRecords(Protocol):
    """The school year as services see it: the year-end archive's checklist (read outside a
    transaction), and, given the caller's transaction (or a connection to read what it sees), the
    new year's moves and the archive's marks and nudges (#27). The transaction-side methods take the
    handle first: whatever must see the transaction's rows gets it explicitly. mypy checks that
    YearRepo satisfies it where bot/core.py hands one to build_services."""

    async def archive_checks(self, school_year: int) -> list[ArchiveCheck]: ...

    # --- the May archive, in the caller's transaction -------------------------------------------
    async def mark_archive_step(
        self, conn: Transaction, *, school_year: int, class_label: str, step: str, person_id: int, now: datetime
    ) -> bool:
        """False when the step was already confirmed (the first confirmation stays on record)."""
        ...

    async def archive_nudged(self, conn: Connection, school_year: int, person_id: int, week: str) -> bool: ...

    async def record_archive_nudge(
        self, conn: Transaction, school_year: int, person_id: int, week: str, now: datetime
    ) -> bool: ...

    # --- the new school year, in the caller's transaction ---------------------------------------
    async def year_record(self, conn: Connection, year: int) -> YearRecord | None: ...

    async def active_people_with_class(self, conn: Connection) -> list[PersonClass]: ...

    async def active_people(self, conn: Connection) -> dict[str, RosterPerson]:
        """Active people by roster key, read inside an import's transaction."""
        ...

    async def parents_only_of(self, conn: Connection, child_ids: set[int]) -> list[tuple[int, str]]:
        """Active parents without a staff role whose every active child is among `child_ids`."""
        ...

    async def key_taken(self, conn: Connection, roster_key: str, except_id: int) -> bool: ...

    async def rekey_person(self, conn: Transaction, person_id: int, new_key: str) -> None: ...

    async def rekey_holder(self, conn: Transaction, roster_key: str) -> None:
        """Give the inactive holder of `roster_key` a key of its own, so another can take it."""
        ...

    async def move_person(
        self,
        conn: Transaction,
        *,
        person_id: int,
        from_class: str | None,
        to_class: str | None,
        reason: str,
        school_year: int | None,
        now: datetime,
        new_key: str | None = None,
        deactivate: bool = False,
    ) -> None:
        """Change a person's class in place (same id: links, consents, codes and ledger rows stay)."""
        ...

    async def deactivate(self, conn: Transaction, person_id: int, now: datetime) -> None: ...

    async def log_import_move(
        self, conn: Transaction, person_id: int, from_class: str | None, to_class: str | None, now: datetime
    ) -> None:
        """A pupil the roster import moved to another class (the class_moves log; their codes follow)."""
        ...

    async def set_plan_year(self, conn: Transaction, year: int) -> None: ...

    async def record_year(
        self,
        conn: Transaction,
        *,
        year: int,
        quarters: Sequence[tuple[date, date]],
        holidays: Sequence[date],
        report: dict[str, Any],
        applied_by: int | None,
        now: datetime,
    ) -> bool:
        """False when this year was already recorded (a second new-year for it does nothing)."""
        ...


class SubjectRecords(Protocol):
    """Everything the school keeps about one person, as the subject report (152-FZ art. 14) reads
    it. mypy checks that SubjectRepo satisfies it where bot/core.py hands one to build_services."""

    async def person_row(self, person_id: int) -> dict[str, object] | None:
        """The person's own row, every column."""
        ...

    async def accounts(self, person_id: int) -> list[tuple[str, int, str | None]]:
        """(channel, user id, username) of each messenger account."""
        ...

    async def codes(self, owner_ids: list[int]) -> list[CodeEntry]: ...

    async def ledger(self, person_id: int, child_ids: list[int]) -> list[LedgerEntry]: ...

    async def tickets(self, person_id: int) -> list[TicketEntry]: ...

    async def sent(self, person_id: int) -> list[SentEntry]: ...

    async def references(self, person_id: int) -> list[Reference]: ...


class AccessLogRecords(Protocol):
    """The access log as its export reads it; a row is appended in the caller's transaction,
    which `append` takes first. mypy checks that AccessLogRepo satisfies it where bot/core.py
    hands one to build_services."""

    async def rows(self, *, since: datetime | None = None) -> list[AccessRow]: ...

    # --- in the caller's transaction (or on its connection) ----------------------------------------
    async def append(
        self, conn: Transaction, *, at: datetime, actor: int | None, channel: str, kind: str,
        object_id: str | None, due_on: date | None = None,
    ) -> int: ...


class ConsentLedger(Protocol):
    """The consent document's versions, the append-only ledger of decisions (its chain and head) and
    the consent reminders, on the caller's connection or transaction, which each method takes first:
    a decision and what it must see are read and written in one transaction (`carry_over`, receipts
    from another copy of the database, is the restore's alone: bot/services/restore.py). mypy checks
    that ConsentRepo satisfies it where bot/core.py hands one to build_services."""

    async def current_version(self, conn: Connection) -> Version | None: ...

    async def get_version(self, conn: Connection, number: int) -> Version | None: ...

    async def insert_version(
        self, conn: Transaction, *, sha256: str, text: str, text_en: str | None, now: datetime, by: int | None
    ) -> int:
        """Call inside a transaction; numbers the version one past the newest (atomically: two
        publications at once get two numbers)."""
        ...

    async def insert_first_version(
        self, conn: Transaction, *, sha256: str, text: str, text_en: str | None, now: datetime, by: int | None
    ) -> bool:
        """Version 1 unless one exists already (False): the first document published once."""
        ...

    async def insert_decision(self, conn: Connection, d: NewDecision) -> bool:
        """Append one row, chained onto the ledger head (call inside a write transaction); False when
        this callback query already recorded a row for this child."""
        ...

    async def chain_rows(self, conn: Connection) -> list[chain.ChainRow]: ...

    async def chain_head(self, conn: Connection) -> chain.ChainHead | None: ...

    async def standing(
        self, conn: Connection, version: int, child_ids: Iterable[int] | None = None
    ) -> dict[int, list[LedgerRow]]:
        """child id -> each representative's latest decision on `version` (one row per parent; a
        paper row without a parent counts as one more): what bot.domain.consent's family rule reads.
        Children without a decision are absent."""
        ...

    async def ledger_rows(self, conn: Connection, child_id: int | None = None) -> list[LedgerRow]: ...

    async def by_receipt(self, conn: Connection, receipt_id: str) -> LedgerRow | None: ...

    async def rows_for_callback(self, conn: Connection, callback_id: str) -> list[LedgerRow]: ...

    async def parents_who_declined(self, conn: Connection, version: int) -> set[int]: ...

    async def cancel_pending_nudges(self, conn: Transaction, parent_id: int) -> None:
        """A parent who has decided must not get a reminder that was queued for later."""
        ...

    async def undecided_parent_ids(self, conn: Connection, version: int) -> set[int]:
        """Parents with an active child that has no decision on `version`, who have made no decision on
        it themselves (one query: the sweep runs every minute)."""
        ...

    async def nudges(self, conn: Connection, version: int) -> dict[int, dict[int, datetime]]:
        """parent id -> {n: due_at} of the reminders already scheduled for `version`."""
        ...

    async def record_nudge(self, conn: Transaction, version: int, parent_id: int, n: int, due_at: datetime) -> bool: ...

    async def class_reminder(self, conn: Connection, version: int, class_label: str) -> datetime | None: ...

    async def carry_over(self, conn: Transaction, carry: CarrySet) -> list[str]:
        """Re-append `carry.ledger` (rows of another copy of this database) at the end of this ledger,
        chained, with the versions and people they name where this copy lacks them. Raises
        bot.domain.ops.CarryOverError (the caller rolls back) when this copy holds a different version
        or person under the same number. Returns the receipts appended."""
        ...

    async def record_class_reminder(
        self, conn: Transaction, version: int, class_label: str, sent_by: int, now: datetime
    ) -> bool: ...

    async def nudges_of(self, conn: Connection, version: int, parent_id: int) -> dict[int, datetime]:
        """{n: due_at} of the consent reminders scheduled for one parent and `version`."""
        ...


class ConsentForms(Protocol):
    """The consent document's texts as parents were shown them, their openings, paper originals,
    translations and scans, on the caller's connection or transaction, which each method takes
    first (every call may run inside the caller's transaction). mypy checks that ConsentFormRepo
    satisfies it where bot/core.py hands one to build_services."""

    async def store_text(self, conn: Transaction, sha256: str, text: str, now: datetime) -> None: ...

    async def text_by_hash(self, conn: Connection, sha256: str) -> str | None: ...

    async def record_read(
        self, conn: Transaction, *, parent_id: int, child_id: int, version: int, sha256: str, now: datetime
    ) -> None: ...

    async def reads(self, conn: Connection, parent_id: int, version: int) -> dict[int, Read]:
        """child id -> the parent's latest opening of that child's document on `version`."""
        ...

    async def record_original(
        self, conn: Transaction, *, child_id: int, version: int, received_on: date, by: int, now: datetime
    ) -> bool:
        """False when the original was already recorded."""
        ...

    async def originals(
        self, conn: Connection, version: int, child_ids: Iterable[int] | None = None
    ) -> dict[int, Original]: ...

    async def link_translation(self, conn: Transaction, sha256: str, shown_sha256: str, lang: str) -> None:
        """The parent read `shown_sha256` (a translation) standing for the Russian text `sha256`."""
        ...

    async def translations(self, conn: Connection, sha256: str) -> list[tuple[str, str]]:
        """(lang, shown hash) of every translation shown for the Russian text `sha256`."""
        ...

    async def attach_scan(
        self, conn: Transaction, *, receipt_id: str, scan_sha256: str | None, scan_ref: str | None,
        by: int | None, now: datetime,
    ) -> bool:
        """False when the receipt already carries a scan (the first one stands)."""
        ...

    async def scans(self, conn: Connection, receipt_ids: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """receipt -> (scan sha256, reference)."""
        ...


class Destructions(Protocol):
    """The destruction tasks a withdrawal of consent opens (and their reminders and confirmation), on
    the caller's connection or transaction, which each method takes first. mypy checks that
    DestructionRepo satisfies it where bot/core.py hands one to build_services."""

    async def open_for(self, conn: Connection, child_id: int) -> Destruction | None:
        """The child's task still waiting for its confirmation, if any."""
        ...

    async def insert(
        self, conn: Transaction, *, child_id: int, receipt_id: str, now: datetime, due_on: date,
        subject_name: str, subject_class: str | None, representatives: str,
    ) -> int: ...

    async def get(self, conn: Connection, task_id: int) -> Destruction | None: ...

    async def all_open(self, conn: Connection) -> list[Destruction]: ...

    async def of_children(self, conn: Connection, child_ids: Iterable[int]) -> list[Destruction]: ...

    async def record_reminder(self, conn: Transaction, task_id: int, n: int, now: datetime) -> bool: ...

    async def confirm(
        self, conn: Transaction, task_id: int, *, by: int | None, channel: str, now: datetime
    ) -> bool:
        """False when it was confirmed already (the first confirmation stands)."""
        ...

    async def cancel_reminders(self, conn: Transaction, task_id: int) -> None:
        """A confirmed task's messages to the IT officers still waiting in the outbox are moot."""
        ...


class MessengerAccounts(Protocol):
    """Messenger accounts (a channel and its user id) and the person each is linked to, as onboarding
    finds, creates and links them in the caller's transaction, which each method takes first. mypy
    checks that AccountRepo satisfies it where bot/core.py hands one to build_services."""

    async def find(self, conn: Connection, channel: Channel, user_id: int) -> int | None:
        """The id of the account (channel, user_id), None when the bot has never seen it."""
        ...

    async def ensure(self, conn: Transaction, channel: Channel, user_id: int, now: datetime) -> int:
        """The id of the account (channel, user_id), created linked to nobody when it is new."""
        ...

    async def link(
        self, conn: Transaction, person_id: int, channel: Channel, user_id: int, username: str | None,
        now: datetime,
    ) -> int:
        """Link the account to ``person_id``: an account linked to someone else before moves (one
        account is one person); the person's earlier account on the same messenger is let go (one
        account per messenger per person). Linking again clears a refusal. Returns the account id."""
        ...


class LinkTokens(Protocol):
    """One-time sign-in links (`/start <token>`) as onboarding creates, reads and spends them in the
    caller's transaction, which each method takes first. mypy checks that TokenRepo satisfies it
    where bot/core.py hands one to build_services."""

    async def create(
        self,
        conn: Transaction,
        *,
        token: str,
        purpose: str,
        person_id: int | None,
        created_by: int | None,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def get(self, conn: Connection, token: str) -> LinkToken | None: ...

    async def use(self, conn: Transaction, token: str, account_id: int, now: datetime) -> bool:
        """Spend the token by the messenger account ``account_id`` (storage.accounts); False when it
        was already spent (by a concurrent /start)."""
        ...

    async def admin_grant_for(self, conn: Connection, account_id: int, since: datetime) -> bool:
        """Whether this account spent an admin token at or after `since`: it may then choose which
        roster IT officer it is."""
        ...


class OutboxQueue(Protocol):
    """The outbox queue as services write it: a message for a person enqueued in the caller's
    transaction (bot/services/outbox.py `Outbox.notify` is the one caller), and a waiting message
    amended before any sender claims it. Each method takes the transaction (or connection) first.
    mypy checks that OutboxRepo satisfies it where bot/core.py hands one to build_services."""

    async def enqueue(
        self,
        conn: Transaction,
        *,
        dedupe_key: str,
        person_id: int,
        kind: Kind,
        payload: Payload,
        now: datetime,
        not_before: datetime | None = None,
        priority: int = 5,
        broadcast_id: int | None = None,
        data_class: DataClass = DataClass.PERSONAL,
    ) -> bool:
        """Call inside `Database.transaction()`. Returns False when the key was already enqueued.

        A row addresses a person, never a chat: the sender resolves their account at send time (the
        messenger they chose, under the channel policy, among those served) and records the account
        it went out on. ``data_class`` says what the message carries, for the channel policy
        (bot/channels.py)."""
        ...

    async def enqueue_answer(
        self,
        conn: Transaction,
        *,
        dedupe_key: str,
        person_id: int,
        kind: Kind,
        payload: Payload,
        now: datetime,
        data_class: DataClass = DataClass.PERSONAL,
    ) -> bool:
        """The answer to the update being handled that reports this transaction's effect, queued with
        it and held for the handler to give (storage/outbox.py's docstring). False: already queued."""
        ...

    async def answered(
        self, conn: Transaction, dedupe_key: str, *, message_id: int, channel: Channel, user_id: int, now: datetime
    ) -> bool:
        """The handler gave the held answer itself (message ``message_id`` to that account): recorded
        sent. False when a sender took it over meanwhile."""
        ...

    async def waiting_payload(self, conn: Connection, dedupe_key: str) -> Payload | None:
        """The payload of a message that is still waiting and that no sender has claimed (None once it
        is being sent, sent, cancelled or absent): only such a message may still be amended."""
        ...

    async def amend_waiting(self, conn: Transaction, dedupe_key: str, payload: Payload) -> bool:
        """Replace the payload of a waiting, unclaimed message (see `waiting_payload`), in the caller's
        transaction. Returns False when the message is no longer waiting."""
        ...


class Backups(Protocol):
    """The live database copied into a file and checked (#27 item 5), as the backup service takes
    it: SQLite's online backup of its file (storage.snapshot.SqliteCopies) or pg_dump of the school's
    schema (storage.pg_backup.PgCopies). `copy_sync` blocks: the service runs it in a thread."""

    @property
    def suffix(self) -> str:
        """The copy's file suffix (bot.domain.ops SQLITE_SUFFIX or DUMP_SUFFIX)."""
        ...

    def can_copy(self) -> bool:
        """False for an in-memory database (tests, benchmarks): there is nothing to copy."""
        ...

    def copy_sync(self, target: Path) -> tuple[int, str | None]:
        """Copy into `target` (replaced only once the copy checks out): (size, failure or None)."""
        ...


class RestoredStore(UnitOfWork, Protocol):
    """The database a restore has just put in place, not yet open: opening applies any newer
    migrations; the restore service writes its carry-over and its access-log row in it, then closes it."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class Restorer(Protocol):
    """A copy put in place of the live database, the live one kept aside (`schoolbot restore`, the bot
    stopped): SQLite's file replaced beside `<file>.before-restore-<time>`
    (storage.snapshot.SqliteRestorer), or the school's schema replaced by a pg_dump copy, the previous
    one renamed `<schema>_prev_<time>` (storage.pg_backup.PgRestorer). bot/core.py picks it by
    DATABASE_URL. The `_sync` methods block (the service runs them in a thread) and raise
    bot.domain.ops.BackupError, in the operator's words, when the copy or the live store cannot be
    used; nothing has changed then."""

    @property
    def store(self) -> RestoredStore:
        """The restored database, to open once `replace_sync` put it in place."""
        ...

    def scratch(self, now: datetime) -> Path:
        """Where an encrypted copy is decrypted for the restore (removed afterwards)."""
        ...

    def missing_sync(self, source: Path) -> tuple[list[ReceiptInfo], str | None]:
        """Check the copy `source`; the receipts of the live ledger that it lacks (oldest first), and
        why the live database could not be read (None when it could: then nothing is missing)."""
        ...

    def replace_sync(self, source: Path, now: datetime) -> Path | str | None:
        """Put the copy in place of the live database: where the previous one was kept aside (a file,
        a schema), None when there was none."""
        ...

    def put_back_sync(self, aside: Path | str | None) -> None:
        """Undo `replace_sync`: the restored database goes, the one kept aside comes back."""
        ...

    def carry_set_sync(self, aside: Path | str, receipt_ids: Sequence[str]) -> CarrySet:
        """The ledger rows of `receipt_ids` in the database kept aside, with the people and versions
        they name: what `ConsentLedger.carry_over` re-appends to the restored one."""
        ...


@dataclass(frozen=True, kw_only=True)
class Repositories:
    """Every repository port services are built from, as bot/core.py fills it for the backend it chose
    and bot/wiring.py build_services hands each service the ones it names (#27). One typed bundle, so
    a new port is one field here and one argument in core.py, not one more parameter on every call;
    never handed to a service whole (a service names exactly what it uses)."""

    people: People
    codes: InvitationCodes
    surveys: Surveys
    ops: OpsRecords
    plan: PlanRecords
    acks: AckCampaigns
    outbox: OutboxRecords
    messengers: Messengers
    analysis: AnalysisRecords
    retention: RetentionRecords
    year: YearRecords
    subject: SubjectRecords
    access_log: AccessLogRecords
    tickets: Tickets
    training: TrainingSessions
    consent_forms: ConsentForms
    consent_ledger: ConsentLedger
    destructions: Destructions
    accounts: MessengerAccounts
    link_tokens: LinkTokens
    backups: Backups
    outbox_queue: OutboxQueue
