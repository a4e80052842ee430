"""The terminal chat of the sandbox: be anyone in the demo school, talk to the real bot.

`ChatEngine.handle(line)` is the whole behaviour (tests drive it directly); `run_terminal` only
reads lines from stdin. Output goes through `ChatOutput`: rich (colours, panels) when stdout is a
terminal, plain text otherwise.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bot.fakeapi import SentMessage
from bot.sandbox.chat_output import ChatOutput, RichOutput
from bot.sandbox.clock_args import parse_time_arg
from bot.sandbox.demo import PERSONAS, DemoPerson
from bot.sandbox.runner import Sandbox
from bot.sandbox.wires import WIRE_LABELS, PlayedUser, Wire, parse_wire
from bot.services.people_text import parse_role, split_list

HELP = """\
Sandbox commands (anything else is sent to the bot as the current person):
  /as [N|key|name] [max|telegram]   who you are (and on which messenger, with --max);
                     without an argument lists the demo people
  /wire max|telegram  play the current person on MAX or on Telegram (sandbox started with --max)
  /press N  or  N    press button N (inline buttons of the last message, then the menu keyboard)
  /buttons           show the numbered buttons again
  /contact           share your phone number (what the "share phone" button does)
  /file PATH         send a document (e.g. sandbox-data/demo-roster.csv)
  /time +3d | +2h | YYYY-MM-DD HH:MM   travel in time (school time zone); reminders fire on the way
  /unread            unread messages per person;  /read shows yours
  /who               who you are, the clock, the bot
  /say TEXT          send TEXT verbatim (e.g. /say 5, or /say /help for the bot's own /help)
  //cmd             the same as /say /cmd
  /help, /quit"""

META = frozenset(
    {"as", "wire", "press", "buttons", "contact", "file", "time", "unread", "read", "who", "say", "help", "quit",
     "exit"}
)


@dataclass(frozen=True)
class Button:
    number: int
    kind: Literal["inline", "reply"]
    text: str
    message: SentMessage


@dataclass(frozen=True)
class Parsed:
    """A line of input: a meta command (`name`, `arg`) or text for the bot (`name` is None)."""

    name: str | None
    arg: str


def parse_line(line: str) -> Parsed:
    text = line.strip()
    if text.isdigit():
        return Parsed("press", text)
    if text.startswith("//"):
        return Parsed("say", text[1:])
    if text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        name = head.lower()
        if name in META:
            return Parsed(name, rest.strip())
    return Parsed(None, text)


def active_buttons(messages: list[SentMessage]) -> list[Button]:
    """The buttons a Telegram user would see now: the inline keyboard of the latest message that
    has one, then the reply keyboard currently shown (unless a later message removed it)."""
    buttons: list[Button] = []
    for message in reversed(messages):
        if not message.deleted and message.buttons():
            for row in message.buttons():
                for text in row:
                    buttons.append(Button(len(buttons) + 1, "inline", text, message))
            break
    for message in reversed(messages):
        markup = message.reply_markup or {}
        if markup.get("remove_keyboard"):
            break
        if markup.get("keyboard"):
            for row in message.reply_buttons():
                for text in row:
                    buttons.append(Button(len(buttons) + 1, "reply", text, message))
            break
    return buttons


class ChatEngine:
    def __init__(self, sandbox: Sandbox, out: ChatOutput) -> None:
        self.sb = sandbox
        self.out = out
        self.current: DemoPerson | None = None
        self.running = True
        # Unread counts already announced, so each "N new messages" line is said once.
        self._announced: dict[int, int] = {}
        # The messenger each person is played on (by full name); Telegram unless chosen.
        self.wires: dict[str, Wire] = {}

    # -- helpers --------------------------------------------------------------------------------

    def wire_of(self, person: DemoPerson) -> Wire:
        return self.wires.get(person.full_name, "telegram")

    @property
    def user(self) -> PlayedUser:
        if self.current is None:
            raise ChatError("choose who you are first: /as (lists the demo people)")
        return self.sb.played(self.current, self.wire_of(self.current))

    def chat_of(self, person: DemoPerson) -> int:
        return self.sb.chat_of(person, self.wire_of(person))

    def who_label(self, person: DemoPerson) -> str:
        for persona in PERSONAS:
            if persona.person is person:
                return f"{persona.key} ({person.full_name})"
        return person.full_name

    def role_words(self, roster_roles: str) -> str:
        """Roster roles ("учитель, родитель") in the sandbox's language (English)."""
        codes = [parse_role(part) for part in split_list(roster_roles)]
        return ", ".join(self.sb.app.catalog.text("en", f"roles.{c}") for c in codes if c) or roster_roles

    def buttons(self) -> list[Button]:
        if self.current is None or self.current.tg_id is None:
            return []
        return active_buttons(self.sb.sent(self.chat_of(self.current)))

    def prompt(self) -> str:
        who = self.current and next((p.key for p in PERSONAS if p.person is self.current), self.current.full_name)
        on = f" · {WIRE_LABELS[self.wire_of(self.current)]}" if self.current and self.sb.mx is not None else ""
        return f"[{who or '-'}{on} · {self.sb.local_now():%Y-%m-%d %H:%M %a}] > "

    def candidates(self) -> list[DemoPerson]:
        personas = [p.person for p in PERSONAS]
        others = [p for p in self.sb.people_in_telegram() if p not in personas]
        return personas + others

    def resolve(self, query: str) -> DemoPerson:
        people = self.candidates()
        if query.isdigit() and 1 <= int(query) <= len(people):
            return people[int(query) - 1]
        for persona in PERSONAS:
            if persona.key == query:
                return persona.person
        low = query.lower()
        matches = [p for p in people if low in p.full_name.lower()]
        if len(matches) == 1:
            return matches[0]
        raise ChatError(f"{len(matches)} people match {query!r}; /as lists them")

    # -- showing --------------------------------------------------------------------------------

    def show_unread(self, person: DemoPerson) -> int:
        assert person.tg_id is not None
        chat = self.chat_of(person)
        pending = self.sb.unread(chat)
        numbers = {
            (b.message.message_id if b.kind == "inline" else -b.message.message_id, b.text): b.number
            for b in active_buttons(self.sb.sent(chat))
        }
        # Which messenger the message came through.
        who = f"{self.who_label(person)} · {WIRE_LABELS[self.wire_of(person)]}"
        tz = self.sb.tz
        for message, edited in pending:
            when = datetime.fromtimestamp(message.date, UTC).astimezone(tz).strftime("%d.%m %H:%M")
            self.out.message(who, message, edited=edited, numbers=numbers,
                             saved=self.sb.save_file(message), when=when)
        self.sb.mark_read(chat)
        return len(pending)

    def report_others(self) -> None:
        counts = self.sb.unread_counts()
        mine = self.chat_of(self.current) if self.current else None
        for chat_id, n in sorted(counts.items()):
            if chat_id != mine and n > self._announced.get(chat_id, 0):
                self.out.info(f"{n} new message(s) for {self.sb.name_of(chat_id)} (/unread, /as to read)")
        self._announced = counts

    def after_action(self) -> None:
        if self.current is not None and self.show_unread(self.current) == 0:
            self.out.info("(no reply)")
        self.report_others()

    # -- commands -------------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Handle one input line; False once the user asked to quit."""
        parsed = parse_line(line)
        if not parsed.arg and parsed.name is None:
            return self.running
        try:
            if parsed.name is None:
                await self.send(parsed.arg)
            else:
                await getattr(self, f"cmd_{'quit' if parsed.name == 'exit' else parsed.name}")(parsed.arg)
        except ChatError as exc:
            self.out.error(str(exc))
        return self.running

    async def send(self, text: str) -> None:
        user = self.user
        await self.sb.act(user, user.send(text))
        self.after_action()

    async def cmd_say(self, arg: str) -> None:
        if not arg:
            raise ChatError("/say TEXT")
        await self.send(arg)

    async def cmd_as(self, arg: str) -> None:
        if not arg:
            rows = []
            personas = {p.person.full_name: p for p in PERSONAS}
            for i, person in enumerate(self.candidates(), 1):
                persona = personas.get(person.full_name)
                unread = len(self.sb.unread(self.chat_of(person))) if person.tg_id else 0
                role = persona.label if persona else self.role_words(person.roles)
                rows.append((str(i), persona.key if persona else "", person.full_name, role, str(unread or "")))
            # The sandbox speaks English to whoever drives it: headers and roles in English only
            # (the people's names stay as the roster writes them).
            self.out.table("Demo people in Telegram (/as N, /as key or /as part-of-name):", rows,
                           headers=("#", "key", "name", "role", "unread"))
            return
        words = arg.split()
        wire = parse_wire(words[-1]) if len(words) > 1 else None
        if wire is not None:
            arg = " ".join(words[:-1])
        person = self.resolve(arg)
        if wire is not None:
            self._check_wire(wire)
            self.wires[person.full_name] = wire
        self.current = person
        on = f" on {WIRE_LABELS[self.wire_of(person)]}" if self.sb.mx is not None else ""
        self.out.info(f"You are now {self.who_label(self.current)}{on}.")
        self.show_unread(self.current)
        self.show_buttons_hint()

    def _check_wire(self, wire: Wire) -> None:
        if wire == "max" and self.sb.mx is None:
            raise ChatError("this sandbox runs without MAX: start it with `schoolbot sandbox --max`")

    async def cmd_wire(self, arg: str) -> None:
        wire = parse_wire(arg)
        if wire is None:
            raise ChatError("/wire max or /wire telegram")
        if self.current is None:
            raise ChatError("choose who you are first: /as")
        self._check_wire(wire)
        self.wires[self.current.full_name] = wire
        self.out.info(f"{self.who_label(self.current)} is now on {WIRE_LABELS[wire]}.")
        self.show_unread(self.current)
        self.show_buttons_hint()

    def show_buttons_hint(self) -> None:
        buttons = self.buttons()
        if buttons:
            self.out.info("Buttons: " + "  ".join(f"[{b.number}] {b.text}" for b in buttons))

    async def cmd_buttons(self, arg: str) -> None:
        if not self.buttons():
            self.out.info("(no buttons)")
        self.show_buttons_hint()

    async def cmd_press(self, arg: str) -> None:
        user = self.user
        buttons = self.buttons()
        if not arg.isdigit() or not 1 <= int(arg) <= len(buttons):
            raise ChatError(f"no button {arg!r}; there are {len(buttons)} (see /buttons)")
        button = buttons[int(arg) - 1]
        self.out.info(f"(pressed: {button.text})")
        await self.press(user, button)
        self.after_action()

    async def press(self, user: PlayedUser, button: Button) -> None:
        if button.kind == "inline":
            update_id = await self.sb.act(user, user.press(button.message, button.text))
            answer = user.callback_answer(self.sb.tg, update_id)
            if answer and answer.get("text"):
                self.out.info(f"(popup: {answer['text']})")
        else:
            await self.sb.act(user, user.press_reply(button.message, button.text))

    async def cmd_contact(self, arg: str) -> None:
        user = self.user
        await self.sb.act(user, user.share_contact())
        self.after_action()

    async def cmd_file(self, arg: str) -> None:
        user = self.user
        if not arg:
            raise ChatError("/file PATH")
        path, data = _read_file(shlex.split(arg)[0])
        await self.sb.act(user, user.send_document(data, path.name, _mime(path)))
        self.after_action()

    async def cmd_time(self, arg: str) -> None:
        if not arg:
            raise ChatError("/time +3d, /time +2h or /time YYYY-MM-DD HH:MM (school time)")
        try:
            target = parse_time_arg(arg, self.sb.clock.now(), self.sb.tz)
            ticks = await self.sb.travel(target)
        except ValueError as exc:
            raise ChatError(str(exc)) from None
        self.out.info(f"Now {self.sb.local_now():%Y-%m-%d %H:%M %a} (school time); ran the sweeps {ticks} time(s).")
        if self.current is not None:
            self.show_unread(self.current)
        self.report_others()

    async def cmd_unread(self, arg: str) -> None:
        counts = self.sb.unread_counts()
        if not counts:
            self.out.info("No unread messages.")
            return
        self.out.table("Unread messages:", [(self.sb.name_of(c), str(n)) for c, n in sorted(counts.items())])

    async def cmd_read(self, arg: str) -> None:
        if self.current is None:
            raise ChatError("choose who you are first: /as")
        if self.show_unread(self.current) == 0:
            self.out.info("(nothing new)")

    async def cmd_who(self, arg: str) -> None:
        me = (f"{self.who_label(self.current)} on {WIRE_LABELS[self.wire_of(self.current)]}"
              if self.current else "nobody yet (/as)")
        tg = self.sb.tg
        self.out.info(
            f"You: {me}\nSchool time: {self.sb.local_now():%Y-%m-%d %H:%M %A}\n"
            f"Bot: @{tg.bot_username} at {tg.base_url}"
            + (f"; MAX at {self.sb.mx.base_url}" if self.sb.mx is not None else "")
            + f"\nData: {self.sb.options.data_dir}"
        )

    async def cmd_help(self, arg: str) -> None:
        self.out.write(HELP)

    async def cmd_quit(self, arg: str) -> None:
        self.running = False


class ChatError(Exception):
    """A message for the person at the keyboard."""


def _read_file(name: str) -> tuple[Path, bytes]:
    path = Path(name).expanduser()
    try:
        return path, path.read_bytes()
    except OSError as exc:
        raise ChatError(f"{path}: {exc.strerror}") from None


def _mime(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


async def run_terminal(sandbox: Sandbox, *, rich: bool | None = None) -> int:
    use_rich = sys.stdout.isatty() if rich is None else rich
    out: ChatOutput = RichOutput() if use_rich else ChatOutput()
    engine = ChatEngine(sandbox, out)
    out.info(f"schoolbot sandbox: the real bot against a fake Telegram at {sandbox.tg.base_url}")
    out.info(f"School time {sandbox.local_now():%Y-%m-%d %H:%M %a}. Demo data:")
    for report_line in sandbox.demo_report.lines():
        out.info(report_line)
    out.write(HELP)
    await engine.cmd_as("")
    while engine.running:
        line = await _read_line(engine.prompt())
        if line is None:
            break
        await engine.handle(line)
    return 0


async def _read_line(prompt: str) -> str | None:
    def read() -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return await asyncio.to_thread(read)
