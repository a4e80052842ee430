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
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.channels import DataClass
from bot.domain.access import TEACHER_ROLES
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Translator
from bot.services.exports import xlsx_append
from bot.services.imports import Importer, ImportOptions, ImportOutcome, table_error
from bot.services.outbox import notify
from bot.services.people_text import normalize_class
from bot.services.roster import RowError
from bot.services.tabular import Row, TableError, load_table
from storage.help import HelpRepo, Invitee, Session, SessionAudience
from storage.outbox import Payload

if TYPE_CHECKING:
    from bot.services.core import Core

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


# --- quiet hours ------------------------------------------------------------------------------


def reminder_times(app: Core, starts_at: datetime, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(evening before, one hour before): either is None when it would be pointless or too late."""
    tz = app.school.tz
    day_before = starts_at.astimezone(tz).date() - timedelta(days=1)
    evening: datetime | None = app.school.calendar.latest_allowed_before(
        datetime.combine(day_before, EVENING_REMINDER, tzinfo=tz).astimezone(UTC)
    )
    if evening is not None and evening <= now:
        evening = None
    hour: datetime | None = starts_at - HOUR_BEFORE
    assert hour is not None
    if app.school.calendar.in_quiet_hours(hour):
        # An early-morning session: moving the reminder earlier would land it before the previous
        # evening's quiet hours, i.e. at or before the evening reminder, so it is skipped.
        hour = None
    if hour is not None and hour <= now:
        hour = None
    return evening, hour


# --- parsing ----------------------------------------------------------------------------------


def parse_when(text: str, app: Core) -> datetime | None:
    """ "dd.mm.yyyy hh:mm" in the school's time zone -> aware UTC, or None."""
    match = _WHEN_RE.match(text)
    if not match:
        return None
    d, m, y, hh, mm = (int(g) for g in match.groups())
    try:
        local = datetime(y, m, d, hh, mm, tzinfo=app.school.tz)
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


def format_when(app: Core, moment: datetime) -> str:
    return moment.astimezone(app.school.tz).strftime("%d.%m.%Y %H:%M")


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


async def resolve_invitees(app: Core, audience: SessionAudience, class_label: str | None) -> list[Person]:
    if audience == "teachers":
        found = {p.id: p for role in sorted(TEACHER_ROLES) for p in await app.people.with_role(role)}
        return sorted(found.values(), key=lambda p: p.full_name)
    if audience == "pupils":
        return await app.people.with_role("student", class_label)
    if audience == "parents":
        return await app.people.parents_of_class(class_label or "")
    return await app.people.active()


def session_text(app: Core, t: Translator, s: Session | SessionSpec) -> str:
    return t(
        "help.training.card",
        title=html.escape(s.title),
        when=format_when(app, s.starts_at),
        place=html.escape(s.place),
        audience=audience_text(t, s.audience, s.class_label),
    )


async def _create_in(
    app: Core, conn: Any, creator: Person | None, spec: SessionSpec, people: list[Person], now: datetime
) -> tuple[int, int]:
    evening, hour = reminder_times(app, spec.starts_at, now)
    send_at = app.school.calendar.outside_quiet_hours(now)
    sent = 0
    sid = await HelpRepo.insert_session(
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
    )
    await HelpRepo.add_invitees(conn, sid, [p.id for p in people])
    for p in people:
        if not p.reachable:
            continue
        t = app.translator_for(p)
        await notify(
            app, conn, p, data_class=DataClass.PUBLIC,
            key=f"training:{sid}:invite:{p.id}",
            kind="text",
            payload=Payload(
                text=t("help.training.invitation", card=session_text(app, t, spec)),
                reply_markup=app.buttons.training_rsvp(sid, t),
            ),
            now=now,
            not_before=send_at,
        )
        sent += 1
    return sid, sent


async def create_sessions(app: Core, creator: Person | None, specs: list[SessionSpec]) -> list[tuple[int, int, int]]:
    """Create sessions, fix their invitees and invite the reachable ones (outbox), all in one
    transaction. Returns (session id, invitees, invitations sent) per session."""
    now = app.clock.now()
    resolved = [await resolve_invitees(app, s.audience, s.class_label) for s in specs]
    result: list[tuple[int, int, int]] = []
    async with app.db.transaction() as conn:
        for spec, people in zip(specs, resolved, strict=True):
            sid, sent = await _create_in(app, conn, creator, spec, people, now)
            result.append((sid, len(people), sent))
    app.wake_sender()
    return result


async def create_session(app: Core, creator: Person | None, spec: SessionSpec) -> tuple[int, int, int]:
    return (await create_sessions(app, creator, [spec]))[0]


# --- RSVP and attendance ----------------------------------------------------------------------


RsvpStatus = Literal["ok", "not_invited", "past", "missing"]


async def rsvp(app: Core, person: Person, session_id: int, yes: bool) -> tuple[RsvpStatus, Session | None]:
    repo = HelpRepo(app.db)
    session = await repo.session(session_id)
    if session is None or session.cancelled_at is not None:
        return "missing", None
    # Re-checked on the server: only an invitee of this session may answer for it.
    if await repo.invitee(session_id, person.id) is None:
        return "not_invited", session
    if session.starts_at <= app.clock.now():
        return "past", session
    async with app.db.transaction() as conn:
        await HelpRepo.set_rsvp(conn, session_id, person.id, "yes" if yes else "no", app.clock.now())
    return "ok", session


async def toggle_attendance(app: Core, session_id: int, person_id: int) -> bool | None:
    """Cycle not marked -> present -> absent -> present ...; None when not an invitee."""
    invitee = await HelpRepo(app.db).invitee(session_id, person_id)
    if invitee is None:
        return None
    new = not invitee.attended if invitee.attended is not None else True
    async with app.db.transaction() as conn:
        await HelpRepo.set_attended(conn, session_id, person_id, new)
    return new


async def roll(app: Core, session_id: int) -> list[tuple[Invitee, Person]]:
    invitees = await HelpRepo(app.db).invitees(session_id)
    people = {p.id: p for p in await app.people.get_many(i.person_id for i in invitees)}
    return [(i, people[i.person_id]) for i in invitees if i.person_id in people]


def _xlsx(rows: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31] or "Sheet"
    for row in rows:
        xlsx_append(ws, row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDE", (40, 30, 10, 14, 14), strict=False):
        ws.column_dimensions[column].width = width
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def attendance_xlsx(app: Core, session_id: int, lang: str) -> tuple[bytes, str] | None:
    session = await HelpRepo(app.db).session(session_id)
    if session is None:
        return None
    t = app.catalog.bind(lang)
    header = [
        t("help.xlsx.name"),
        t("help.xlsx.role"),
        t("help.xlsx.class"),
        t("help.xlsx.rsvp"),
        t("help.xlsx.attended"),
    ]
    rows = [[f"{session.title} — {format_when(app, session.starts_at)}"], header]
    for inv, person in await roll(app, session_id):
        rows.append(
            [
                person.full_name,
                ", ".join(t(f"roles.{r}") for r in sorted(person.roles)),
                person.class_label or "",
                t(f"help.xlsx.rsvp_{inv.rsvp or 'none'}"),
                t(f"help.xlsx.att_{'none' if inv.attended is None else ('yes' if inv.attended else 'no')}"),
            ]
        )
    # The header is the second row; keep bold on it rather than on the title.
    data = await asyncio.to_thread(_xlsx, rows[1:], t("help.xlsx.sheet"))
    filename = f"attendance-{session.id}-{session.starts_at.astimezone(app.school.tz):%Y%m%d}.xlsx"
    return data, filename


async def render_attendance(app: Core, args: dict[str, Any]) -> tuple[bytes, str]:
    result = await attendance_xlsx(app, int(args["session_id"]), str(args.get("lang") or DEFAULT_LANG))
    if result is None:
        raise ValueError("session not found")
    return result


# --- reminders --------------------------------------------------------------------------------


async def send_due_reminders(app: Core, now: datetime) -> int:
    repo = HelpRepo(app.db)
    queued = 0
    for session, kind in await repo.due_reminders(now):
        late = session.starts_at <= now or (
            kind == "evening" and session.hour_at is not None and session.hour_at <= now
        )
        targets: list[tuple[Invitee, Person]] = [] if late else await roll(app, session.id)
        async with app.db.transaction() as conn:
            for inv, person in targets:
                if inv.rsvp == "no" or not person.reachable or not person.active:
                    continue
                t = app.translator_for(person)
                markup = app.buttons.training_rsvp(session.id, t) if inv.rsvp is None else None
                queued += await notify(
                    app, conn, person, data_class=DataClass.PUBLIC,
                    key=f"training:{session.id}:{kind}:{person.id}",
                    kind="text",
                    payload=Payload(
                        text=t(f"help.training.reminder_{kind}", card=session_text(app, t, session)),
                        reply_markup=markup,
                    ),
                    now=now,
                )
            await HelpRepo.mark_reminder_done(conn, session.id, kind, now)
    if queued:
        app.wake_sender()
    return queued


# --- import -----------------------------------------------------------------------------------

_ALIASES = {
    "title": ["название", "тема", "заголовок"],
    "audience": ["аудитория", "участники", "для кого"],
    "time": ["время", "дата и время", "когда", "дата"],
    "place": ["место", "ссылка", "место или ссылка"],
}


_REQUIRED = ("title", "audience", "time", "place")


def sessions_from_rows(app: Core, rows: list[Row]) -> tuple[list[SessionSpec], list[RowError]]:
    specs: list[SessionSpec] = []
    errors: list[RowError] = []
    now = app.clock.now()
    for row in rows:
        v = row.values
        if not any(v.values()):
            continue
        title, place = v["title"].strip(), v["place"].strip()
        audience = parse_audience(v["audience"])
        when = parse_when(v["time"], app)
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


async def _import(app: Core, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    try:
        rows = await load_table(data, filename, _ALIASES, _REQUIRED, options.limits)
    except TableError as exc:
        return ImportOutcome(errors=[table_error(exc)])
    specs, errors = sessions_from_rows(app, rows)
    if errors:
        return ImportOutcome(errors=errors)
    invited = 0
    if not options.dry_run:
        invited = sum(sent for _, _, sent in await create_sessions(app, None, specs))
    else:
        for spec in specs:
            invited += sum(p.reachable for p in await resolve_invitees(app, spec.audience, spec.class_label))
    return ImportOutcome(counts={"sessions": len(specs), "invitations": invited}, applied=not options.dry_run)


TRAINING_IMPORTER = Importer(kind="training", label_key="help.import_kind", run=_import)
