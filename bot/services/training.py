"""Training sessions and parent meetings (plan items 12-14): invitations with RSVP, reminders the
evening before and one hour before (never in quiet hours), attendance and its XLSX export.

A parent meeting is a session whose audience is the parents of a class. Invitees are fixed when the
session is created, so RSVPs and attendance refer to one stable list.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from bot.channels import DataClass
from bot.domain.access import TEACHER_ROLES
from bot.domain.help import Invitee, Session, SessionAudience
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Translator
from bot.services.access_log import AccessKind, AccessLog
from bot.services.exports import xlsx_append
from bot.services.imports import Importer, ImportOptions, ImportOutcome, table_error
from bot.services.people_text import normalize_class
from bot.services.repos import People, TrainingSessions
from bot.services.roster import RowError
from bot.services.tabular import Row, TableError, load_table
from bot.services.xlsx import FONT_NAME, fit_landscape_a4, fit_rows, new_workbook, style_table

if TYPE_CHECKING:

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork

# The evening reminder goes out at this local time the day before (earlier if quiet hours cover it).
EVENING_REMINDER = time(18, 0)
HOUR_BEFORE = timedelta(hours=1)
MAX_TITLE = 200
MAX_PLACE = 300
RENDERER = "training_attendance"

_WHEN_RE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2})[:.](\d{2})\s*$")
_AUDIENCE_WORDS: dict[str, SessionAudience] = {
    "teachers": "teachers",
    "учителя": "teachers",
    "учителей": "teachers",
    "педагоги": "teachers",
    "pupils": "pupils",
    "students": "pupils",
    "ученики": "pupils",
    "учеников": "pupils",
    "обучающиеся": "pupils",
    "parents": "parents",
    "родители": "parents",
    "родителей": "parents",
    "everyone": "everyone",
    "all": "everyone",
    "все": "everyone",
    "всех": "everyone",
}


# --- parsing ----------------------------------------------------------------------------------


def parse_when(text: str, tz: tzinfo) -> datetime | None:
    """ "dd.mm.yyyy hh:mm" in the school's time zone -> aware UTC, or None."""
    match = _WHEN_RE.match(text)
    if not match:
        return None
    d, m, y, hh, mm = (int(g) for g in match.groups())
    try:
        local = datetime(y, m, d, hh, mm, tzinfo=tz)
    except ValueError:
        return None
    return local.astimezone(UTC)


def parse_audience(text: str) -> tuple[SessionAudience, str | None] | None:
    """ "учителя", "все", "ученики 5А", "parents:5A" -> (audience, class) or None."""
    words = re.split(r"[\s:,]+", text.strip().lower().replace("ё", "е"))
    words = [w for w in words if w]
    if not words or words[0] not in _AUDIENCE_WORDS:
        return None
    audience = _AUDIENCE_WORDS[words[0]]
    if audience in ("teachers", "everyone"):
        return (audience, None) if len(words) == 1 else None
    if len(words) != 2:
        return None
    cls = normalize_class(words[1])
    return None if cls is None else (audience, cls)


def text_class(s: Session | SessionSpec) -> DataClass:
    """What a session's card is: its title and place are staff's free text, personal data unless the
    author confirmed they name no one (as a broadcast's text)."""
    return DataClass.PUBLIC if s.public_text else DataClass.PERSONAL


def audience_text(t: Translator, audience: str, class_label: str | None) -> str:
    return t(f"help.training.audience.{audience}", cls=class_label or "")


# --- creating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSpec:
    title: str
    audience: SessionAudience
    class_label: str | None
    starts_at: datetime
    place: str
    # The author confirmed the title and place name no one; else they count as personal data.
    public_text: bool = False


# --- RSVP and attendance ----------------------------------------------------------------------


RsvpStatus = Literal["ok", "not_invited", "past", "missing"]


def _xlsx(rows: list[list[str]], title: str) -> bytes:
    """The first row is the session's title and time, the second the table's header."""
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = new_workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31] or "Sheet"
    for column, width in zip("ABCDE", (40, 30, 10, 14, 14), strict=False):
        ws.column_dimensions[column].width = width
    for row in rows:
        xlsx_append(ws, row)
    ws["A1"].font = Font(name=FONT_NAME, bold=True, size=12)
    for cell in ws[2]:
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
    # Long names and several roles wrap inside their column instead of running under the next one.
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    style_table(ws, header_row=2, columns=len(rows[1]) if len(rows) > 1 else 1)
    fit_landscape_a4(ws, title_rows="2:2")
    fit_rows(ws, first_row=2)
    if ws.oddFooter is not None:
        ws.oddFooter.center.text = "&P / &N"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --- import -----------------------------------------------------------------------------------

_ALIASES = {
    "title": ["название", "тема", "заголовок"],
    "audience": ["аудитория", "участники", "для кого"],
    "time": ["время", "дата и время", "когда", "дата"],
    "place": ["место", "ссылка", "место или ссылка"],
}


_REQUIRED = ("title", "audience", "time", "place")




@dataclass(kw_only=True, eq=False)
class TrainingService:
    """Training sessions and parent meetings: invitations, RSVPs, reminders, attendance."""

    access_log: AccessLog
    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig
    training_repo: TrainingSessions
    importer: Importer = field(init=False)

    def __post_init__(self) -> None:
        self.importer = Importer(kind="training", label_key="help.import_kind", run=self._import)


    # --- quiet hours ------------------------------------------------------------------------------
    def reminder_times(self, starts_at: datetime, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(evening before, one hour before): either is None when it would be pointless or too late."""
        tz = self.school.tz
        day_before = starts_at.astimezone(tz).date() - timedelta(days=1)
        evening: datetime | None = self.school.calendar.latest_allowed_before(
            datetime.combine(day_before, EVENING_REMINDER, tzinfo=tz).astimezone(UTC)
        )
        if evening is not None and evening <= now:
            evening = None
        hour: datetime | None = starts_at - HOUR_BEFORE
        assert hour is not None
        if self.school.calendar.in_quiet_hours(hour):
            # An early-morning session: moving the reminder earlier would land it before the previous
            # evening's quiet hours, i.e. at or before the evening reminder, so it is skipped.
            hour = None
        if hour is not None and hour <= now:
            hour = None
        return evening, hour

    async def session(self, session_id: int) -> Session | None:
        return await self.training_repo.session(session_id)

    async def menu_sessions(self) -> list[Session]:
        """The IT officer's list: the five latest past sessions, oldest first, then the next fifteen."""
        repo, now = self.training_repo, self.clock.now()
        return [*await repo.recent_sessions(now, 5)][::-1] + await repo.sessions_after(now, 15)

    def format_when(self, moment: datetime) -> str:
        return moment.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")

    async def resolve_invitees(self, audience: SessionAudience, class_label: str | None) -> list[Person]:
        if audience == "teachers":
            found = {p.id: p for role in sorted(TEACHER_ROLES) for p in await self.people.with_role(role)}
            return sorted(found.values(), key=lambda p: p.full_name)
        if audience == "pupils":
            return await self.people.with_role("student", class_label)
        if audience == "parents":
            return await self.people.parents_of_class(class_label or "")
        return await self.people.active()

    def session_text(self, t: Translator, s: Session | SessionSpec) -> str:
        return t(
            "help.training.card",
            title=html.escape(s.title),
            when=self.format_when(s.starts_at),
            place=html.escape(s.place),
            audience=audience_text(t, s.audience, s.class_label),
        )

    async def _create_in(
        self, conn: Any, creator: Person | None, spec: SessionSpec, people: list[Person], now: datetime
    ) -> tuple[int, int]:
        evening, hour = self.reminder_times(spec.starts_at, now)
        send_at = self.school.calendar.outside_quiet_hours(now)
        sent = 0
        sid = await self.training_repo.insert_session(
            conn,
            title=spec.title,
            audience=spec.audience,
            class_label=spec.class_label,
            starts_at=spec.starts_at,
            place=spec.place,
            created_by=None if creator is None else creator.id,
            evening_at=evening,
            hour_at=hour,
            now=now,
            public_text=spec.public_text,
        )
        await self.training_repo.add_invitees(conn, sid, [p.id for p in people])
        for p in people:
            if not p.reachable:
                continue
            t = self.catalog.translator_for(p)
            await self.outbox.notify(
                conn, p, data_class=text_class(spec),
                key=f"training:{sid}:invite:{p.id}",
                kind="text",
                payload=Payload(
                    text=t("help.training.invitation", card=self.session_text(t, spec)),
                    reply_markup=self.buttons.training_rsvp(sid, t),
                ),
                now=now,
                not_before=send_at,
            )
            sent += 1
        return sid, sent

    async def create_sessions(self, creator: Person | None, specs: list[SessionSpec]) -> list[tuple[int, int, int]]:
        """Create sessions, fix their invitees and invite the reachable ones (outbox), all in one
        transaction. Returns (session id, invitees, invitations sent) per session."""
        now = self.clock.now()
        resolved = [await self.resolve_invitees(s.audience, s.class_label) for s in specs]
        result: list[tuple[int, int, int]] = []
        async with self.db.transaction() as conn:
            for spec, people in zip(specs, resolved, strict=True):
                sid, sent = await self._create_in(conn, creator, spec, people, now)
                result.append((sid, len(people), sent))
        self.outbox.wake()
        return result

    async def create_session(self, creator: Person | None, spec: SessionSpec) -> tuple[int, int, int]:
        return (await self.create_sessions(creator, [spec]))[0]

    async def rsvp(self, person: Person, session_id: int, yes: bool) -> tuple[RsvpStatus, Session | None]:
        repo = self.training_repo
        session = await repo.session(session_id)
        if session is None or session.cancelled_at is not None:
            return "missing", None
        # Re-checked on the server: only an invitee of this session may answer for it.
        if await repo.invitee(session_id, person.id) is None:
            return "not_invited", session
        if session.starts_at <= self.clock.now():
            return "past", session
        async with self.db.transaction() as conn:
            await self.training_repo.set_rsvp(conn, session_id, person.id, "yes" if yes else "no", self.clock.now())
        return "ok", session

    async def toggle_attendance(self, session_id: int, person_id: int) -> bool | None:
        """Cycle not marked -> present -> absent -> present ...; None when not an invitee."""
        invitee = await self.training_repo.invitee(session_id, person_id)
        if invitee is None:
            return None
        new = not invitee.attended if invitee.attended is not None else True
        async with self.db.transaction() as conn:
            await self.training_repo.set_attended(conn, session_id, person_id, new)
        return new

    async def roll(self, session_id: int) -> list[tuple[Invitee, Person]]:
        invitees = await self.training_repo.invitees(session_id)
        people = {p.id: p for p in await self.people.get_many(i.person_id for i in invitees)}
        return [(i, people[i.person_id]) for i in invitees if i.person_id in people]

    async def attendance_xlsx(self, session_id: int, lang: str) -> tuple[bytes, str] | None:
        session = await self.training_repo.session(session_id)
        if session is None:
            return None
        await self.access_log.record(AccessKind.TRAINING_ATTENDANCE, session_id)
        t = self.catalog.bind(lang)
        header = [
            t("help.xlsx.name"),
            t("help.xlsx.role"),
            t("help.xlsx.class"),
            t("help.xlsx.rsvp"),
            t("help.xlsx.attended"),
        ]
        rows = [[f"{session.title} — {self.format_when(session.starts_at)}"], header]
        for inv, person in await self.roll(session_id):
            rows.append(
                [
                    person.full_name,
                    ", ".join(t(f"roles.{r}") for r in sorted(person.roles)),
                    person.class_label or "",
                    t(f"help.xlsx.rsvp_{inv.rsvp or 'none'}"),
                    t(f"help.xlsx.att_{'none' if inv.attended is None else ('yes' if inv.attended else 'no')}"),
                ]
            )
        # The title row (what and when) prints above the table: a page without it says nothing.
        data = await asyncio.to_thread(_xlsx, rows, t("help.xlsx.sheet"))
        filename = f"attendance-{session.id}-{session.starts_at.astimezone(self.school.tz):%Y%m%d}.xlsx"
        return data, filename

    async def render_attendance(self, args: dict[str, Any]) -> tuple[bytes, str]:
        result = await self.attendance_xlsx(int(args["session_id"]), str(args.get("lang") or DEFAULT_LANG))
        if result is None:
            raise ValueError("session not found")
        return result

    # --- reminders --------------------------------------------------------------------------------
    async def send_due_reminders(self, now: datetime) -> int:
        repo = self.training_repo
        queued = 0
        for session, kind in await repo.due_reminders(now):
            late = session.starts_at <= now or (
                kind == "evening" and session.hour_at is not None and session.hour_at <= now
            )
            targets: list[tuple[Invitee, Person]] = [] if late else await self.roll(session.id)
            async with self.db.transaction() as conn:
                for inv, person in targets:
                    if inv.rsvp == "no" or not person.reachable or not person.active:
                        continue
                    t = self.catalog.translator_for(person)
                    markup = self.buttons.training_rsvp(session.id, t) if inv.rsvp is None else None
                    queued += await self.outbox.notify(
                        conn, person, data_class=text_class(session),
                        key=f"training:{session.id}:{kind}:{person.id}",
                        kind="text",
                        payload=Payload(
                            text=t(f"help.training.reminder_{kind}", card=self.session_text(t, session)),
                            reply_markup=markup,
                        ),
                        now=now,
                    )
                await self.training_repo.mark_reminder_done(conn, session.id, kind, now)
        if queued:
            self.outbox.wake()
        return queued

    def sessions_from_rows(self, rows: list[Row]) -> tuple[list[SessionSpec], list[RowError]]:
        specs: list[SessionSpec] = []
        errors: list[RowError] = []
        now = self.clock.now()
        for row in rows:
            v = row.values
            if not any(v.values()):
                continue
            title, place = v["title"].strip(), v["place"].strip()
            audience = parse_audience(v["audience"])
            when = parse_when(v["time"], self.school.tz)
            if not title or len(title) > MAX_TITLE:
                errors.append(RowError(row.line, "training_title"))
            elif audience is None:
                errors.append(RowError(row.line, "training_audience", {"value": v["audience"]}))
            elif when is None:
                errors.append(RowError(row.line, "training_time", {"value": v["time"]}))
            elif when <= now:
                errors.append(RowError(row.line, "training_past", {"value": v["time"]}))
            elif not place or len(place) > MAX_PLACE:
                errors.append(RowError(row.line, "training_place"))
            else:
                specs.append(SessionSpec(title, audience[0], audience[1], when, place))
        return specs, errors

    async def _import(self, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
        try:
            rows = await load_table(data, filename, _ALIASES, _REQUIRED, options.limits)
        except TableError as exc:
            return ImportOutcome(errors=[table_error(exc)])
        specs, errors = self.sessions_from_rows(rows)
        if errors:
            return ImportOutcome(errors=errors)
        invited = 0
        if not options.dry_run:
            invited = sum(sent for _, _, sent in await self.create_sessions(None, specs))
        else:
            for spec in specs:
                invited += sum(p.reachable for p in await self.resolve_invitees(spec.audience, spec.class_label))
        return ImportOutcome(counts={"sessions": len(specs), "invitations": invited}, applied=not options.dry_run)
