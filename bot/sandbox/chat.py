"""The terminal chat of the sandbox: be anyone in the demo school, talk to the real bot.

`ChatEngine.handle(line)` is the whole behaviour (tests drive it directly); `run_terminal` only
reads lines from stdin. Output goes through `ChatOutput`: rich (colours, panels) when stdout is a
terminal, plain text otherwise.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bot.fakeapi import SentMessage
from bot.i18n import LANGUAGES
from bot.sandbox.chat_output import ChatOutput, RichOutput
from bot.sandbox.clock_args import parse_time_arg
from bot.sandbox.demo import PERSONAS, DemoPerson
from bot.sandbox.options import SandboxProblem
from bot.sandbox.runner import Sandbox
from bot.sandbox.wires import WIRE_LABELS, PlayedUser, Wire, parse_wire
from bot.services.people_text import parse_role, split_list

# A button is named by its message and its place in it: "4.2" is button 2 of message #4 (the
# number the message's header shows). A message that arrives later gets its own number, so it can
# never change what "4.2" presses; a plain "2" presses only while a single message has buttons.
BUTTON_LABEL = re.compile(r"^(\d+)\.(\d+)$")

META = frozenset(
    {"as", "wire", "press", "buttons", "contact", "file", "time", "unread", "read", "who", "say", "help", "quit",
     "exit"}
)


@dataclass(frozen=True)
class Button:
    message_no: int   # the message's id in its chat: the "#4" of its header
    index: int        # 1-based, across the message's rows
    kind: Literal["inline", "reply"]
    text: str
    message: SentMessage

    @property
    def label(self) -> str:
        return f"{self.message_no}.{self.index}"

    @property
    def key(self) -> tuple[int, int]:
        """Which button of which message (reply keyboards keyed apart from inline ones)."""
        return (self.message_no if self.kind == "inline" else -self.message_no, self.index)


@dataclass(frozen=True)
class Parsed:
    """A line of input: a meta command (`name`, `arg`) or text for the bot (`name` is None)."""

    name: str | None
    arg: str


def parse_line(line: str) -> Parsed:
    text = line.strip()
    if text.isdigit() or BUTTON_LABEL.match(text):
        return Parsed("press", text)
    if text.startswith("//"):
        return Parsed("say", text[1:])
    if text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        name = head.lower()
        if name in META:
            return Parsed(name, rest.strip())
    return Parsed(None, text)


def _buttons_of(message: SentMessage, kind: Literal["inline", "reply"]) -> list[Button]:
    rows = message.buttons() if kind == "inline" else message.reply_buttons()
    texts = [text for row in rows for text in row]
    return [Button(message.message_id, i, kind, text, message) for i, text in enumerate(texts, 1)]


def _keyboard_message(messages: list[SentMessage]) -> SentMessage | None:
    """The message whose reply keyboard is shown now (None once a later message removed it)."""
    for message in reversed(messages):
        markup = message.reply_markup or {}
        if markup.get("remove_keyboard"):
            return None
        if markup.get("keyboard"):
            return message
    return None


def active_buttons(messages: list[SentMessage]) -> list[Button]:
    """The buttons a Telegram user would see now: the inline keyboard of the latest message that
    has one, then the reply keyboard currently shown (unless a later message removed it)."""
    buttons: list[Button] = []
    for message in reversed(messages):
        if not message.deleted and message.buttons():
            buttons += _buttons_of(message, "inline")
            break
    keyboard = _keyboard_message(messages)
    if keyboard is not None:
        buttons += _buttons_of(keyboard, "reply")
    return buttons


def pressable_buttons(messages: list[SentMessage]) -> list[Button]:
    """Every button a user could press now: inline buttons of any message still in the chat
    (Telegram keeps old ones pressable) and the reply keyboard shown now."""
    buttons = [b for m in messages if not m.deleted for b in _buttons_of(m, "inline")]
    keyboard = _keyboard_message(messages)
    if keyboard is not None:
        buttons += _buttons_of(keyboard, "reply")
    return buttons


def find_button(messages: list[SentMessage], typed: str) -> Button | Literal["ambiguous"] | None:
    """The button `typed` names: "4.2" (message #4, button 2), or a plain "2" while only one
    message has buttons ("ambiguous" otherwise: a plain number must never mean a different
    button because another message arrived)."""
    buttons = pressable_buttons(messages)
    match = BUTTON_LABEL.match(typed.strip())
    if match:
        wanted = typed.strip()
        return next((b for b in buttons if b.label == wanted), None)
    if not typed.strip().isdigit():
        return None
    if len({b.key[0] for b in buttons}) > 1:
        return "ambiguous"
    index = int(typed)
    return next((b for b in buttons if b.index == index), None)


class ChatEngine:
    def __init__(self, sandbox: Sandbox, out: ChatOutput) -> None:
        self.sb = sandbox
        self.out = out
        # The sandbox speaks the language its people were given (`--lang`, Russian by default).
        self.lang = sandbox.options.lang if sandbox.options.lang in LANGUAGES else "ru"
        out.t = self.t
        self.current: DemoPerson | None = None
        self.running = True
        # Unread counts already announced, so each "N new messages" line is said once.
        self._announced: dict[int, int] = {}
        # The messenger each person is played on (by full name); Telegram unless chosen.
        self.wires: dict[str, Wire] = {}

    # -- helpers --------------------------------------------------------------------------------

    def t(self, key: str, /, **params: object) -> str:
        return self.sb.app.catalog.text(self.lang, f"sandbox.{key}", **params)

    def when(self, moment: datetime) -> str:
        """A school time with the weekday in the sandbox's language: 2026-12-01 10:00 вт."""
        local = moment.astimezone(self.sb.tz)
        return f"{local:%Y-%m-%d %H:%M} {self.t('weekdays').split(',')[local.weekday()]}"

    def wire_of(self, person: DemoPerson) -> Wire:
        return self.wires.get(person.full_name, "telegram")

    @property
    def user(self) -> PlayedUser:
        if self.current is None:
            raise ChatError(self.t("need_person"))
        return self.sb.played(self.current, self.wire_of(self.current))

    def chat_of(self, person: DemoPerson) -> int:
        return self.sb.chat_of(person, self.wire_of(person))

    def who_label(self, person: DemoPerson) -> str:
        for persona in PERSONAS:
            if persona.person is person:
                return f"{persona.key} ({person.full_name})"
        return person.full_name

    def role_words(self, roster_roles: str) -> str:
        """Roster roles ("учитель, родитель") in the sandbox's language."""
        codes = [parse_role(part) for part in split_list(roster_roles)]
        return ", ".join(self.sb.app.catalog.text(self.lang, f"roles.{c}") for c in codes if c) or roster_roles

    def messages(self) -> list[SentMessage]:
        if self.current is None or self.current.tg_id is None:
            return []
        return self.sb.sent(self.chat_of(self.current))

    def buttons(self) -> list[Button]:
        return active_buttons(self.messages())

    def prompt(self) -> str:
        who = self.current and next((p.key for p in PERSONAS if p.person is self.current), self.current.full_name)
        on = f" · {WIRE_LABELS[self.wire_of(self.current)]}" if self.current and self.sb.mx is not None else ""
        return f"[{who or '-'}{on} · {self.when(self.sb.clock.now())}] > "

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
        raise ChatError(self.t("people_match", query=query, n=len(matches)))

    # -- showing --------------------------------------------------------------------------------

    def show_unread(self, person: DemoPerson) -> int:
        assert person.tg_id is not None
        chat = self.chat_of(person)
        pending = self.sb.unread(chat)
        labels = {b.key: b.label for b in pressable_buttons(self.sb.sent(chat))}
        # Which messenger the message came through.
        who = f"{self.who_label(person)} · {WIRE_LABELS[self.wire_of(person)]}"
        tz = self.sb.tz
        for message, edited in pending:
            when = datetime.fromtimestamp(message.date, UTC).astimezone(tz).strftime("%d.%m %H:%M")
            self.out.message(who, message, edited=edited, labels=labels,
                             saved=self.sb.save_file(message), when=when)
        self.sb.mark_read(chat)
        return len(pending)

    def report_others(self) -> None:
        counts = self.sb.unread_counts()
        mine = self.chat_of(self.current) if self.current else None
        for chat_id, n in sorted(counts.items()):
            if chat_id != mine and n > self._announced.get(chat_id, 0):
                self.out.info(self.t("new_for", n=n, chat=self.sb.name_of(chat_id)))
        self._announced = counts

    def after_action(self) -> None:
        if self.current is not None and self.show_unread(self.current) == 0:
            self.out.info(self.t("no_reply"))
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
            raise ChatError(self.t("say_usage"))
        await self.send(arg)

    async def cmd_as(self, arg: str) -> None:
        if not arg:
            rows = []
            personas = {p.person.full_name: p for p in PERSONAS}
            for i, person in enumerate(self.candidates(), 1):
                persona = personas.get(person.full_name)
                unread = len(self.sb.unread(self.chat_of(person))) if person.tg_id else 0
                role = self.t(f"persona.{persona.key}") if persona else self.role_words(person.roles)
                rows.append((str(i), persona.key if persona else "", person.full_name, role, str(unread or "")))
            # Headers and roles in the sandbox's language only (the people's names stay as the
            # roster writes them).
            self.out.table(self.t("people_title"), rows,
                           headers=tuple(self.t(f"head_{h}") for h in ("number", "key", "name", "role", "unread")))
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
        label = self.who_label(self.current)
        if self.sb.mx is not None:
            self.out.info(self.t("you_are_on", label=label, wire=WIRE_LABELS[self.wire_of(person)]))
        else:
            self.out.info(self.t("you_are", label=label))
        self.show_unread(self.current)
        self.show_buttons_hint()

    def _check_wire(self, wire: Wire) -> None:
        if wire == "max" and self.sb.mx is None:
            raise ChatError(self.t("no_max"))

    async def cmd_wire(self, arg: str) -> None:
        wire = parse_wire(arg)
        if wire is None:
            raise ChatError(self.t("wire_usage"))
        if self.current is None:
            raise ChatError(self.t("need_person"))
        self._check_wire(wire)
        self.wires[self.current.full_name] = wire
        self.out.info(self.t("wire_moved", label=self.who_label(self.current), wire=WIRE_LABELS[wire]))
        self.show_unread(self.current)
        self.show_buttons_hint()

    def show_buttons_hint(self) -> None:
        buttons = self.buttons()
        if buttons:
            self.out.info(self.t("buttons", list="  ".join(f"[{b.label}] {b.text}" for b in buttons)))

    async def cmd_buttons(self, arg: str) -> None:
        if not self.buttons():
            self.out.info(self.t("no_buttons"))
        self.show_buttons_hint()

    async def cmd_press(self, arg: str) -> None:
        user = self.user
        button = find_button(self.messages(), arg)
        if button == "ambiguous":
            shown = self.buttons() or pressable_buttons(self.messages())
            example = next((b.label for b in shown if b.index == int(arg)), shown[0].label if shown else "4.1")
            raise ChatError(self.t("ambiguous_button", example=example))
        if button is None:
            raise ChatError(self.t("no_button", arg=arg))
        self.out.info(self.t("pressed", text=button.text))
        await self.press(user, button)
        self.after_action()

    async def press(self, user: PlayedUser, button: Button) -> None:
        if button.kind == "inline":
            update_id = await self.sb.act(user, user.press(button.message, button.text))
            answer = user.callback_answer(self.sb.tg, update_id)
            if answer and answer.get("text"):
                self.out.info(self.t("popup", text=answer["text"]))
        else:
            await self.sb.act(user, user.press_reply(button.message, button.text))

    async def cmd_contact(self, arg: str) -> None:
        user = self.user
        await self.sb.act(user, user.share_contact())
        self.after_action()

    async def cmd_file(self, arg: str) -> None:
        user = self.user
        if not arg:
            raise ChatError(self.t("file_usage"))
        path, data = _read_file(shlex.split(arg)[0])
        if isinstance(data, str):
            raise ChatError(self.t("file_unreadable", path=str(path), error=data))
        await self.sb.act(user, user.send_document(data, path.name, _mime(path)))
        self.after_action()

    async def cmd_time(self, arg: str) -> None:
        if not arg:
            raise ChatError(self.t("time_usage"))
        now = self.sb.clock.now()
        try:
            target = parse_time_arg(arg, now, self.sb.tz)
        except SandboxProblem as exc:
            raise ChatError(self.t("bad_time", arg=arg, error=exc.text(self.sb.app.catalog.bind(self.lang)))) from None
        if target <= now:
            raise ChatError(self.t("time_backwards", when=self.when(now)))
        ticks = await self.sb.travel(target)
        self.out.info(self.t("time_moved", when=self.when(self.sb.clock.now()), n=ticks))
        if self.current is not None:
            self.show_unread(self.current)
        self.report_others()

    async def cmd_unread(self, arg: str) -> None:
        counts = self.sb.unread_counts()
        if not counts:
            self.out.info(self.t("no_unread"))
            return
        self.out.table(self.t("unread_title"), [(self.sb.name_of(c), str(n)) for c, n in sorted(counts.items())])

    async def cmd_read(self, arg: str) -> None:
        if self.current is None:
            raise ChatError(self.t("need_person"))
        if self.show_unread(self.current) == 0:
            self.out.info(self.t("nothing_new"))

    async def cmd_who(self, arg: str) -> None:
        me = (self.t("who_on", label=self.who_label(self.current), wire=WIRE_LABELS[self.wire_of(self.current)])
              if self.current else self.t("nobody"))
        tg = self.sb.tg
        self.out.info(self.t(
            "who", me=me, when=self.when(self.sb.clock.now()), bot=tg.bot_username, url=tg.base_url,
            max=self.t("max_at", url=self.sb.mx.base_url) if self.sb.mx is not None else "",
            data=str(self.sb.options.data_dir),
        ))

    async def cmd_help(self, arg: str) -> None:
        self.out.write(self.t("help"))

    async def cmd_quit(self, arg: str) -> None:
        self.running = False


class ChatError(Exception):
    """A message for the person at the keyboard."""


def _read_file(name: str) -> tuple[Path, bytes | str]:
    """The file's bytes, or why it cannot be read."""
    path = Path(name).expanduser()
    try:
        return path, path.read_bytes()
    except OSError as exc:
        return path, exc.strerror or str(exc)


def _mime(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


async def run_terminal(sandbox: Sandbox, *, rich: bool | None = None) -> int:
    use_rich = sys.stdout.isatty() if rich is None else rich
    out: ChatOutput = RichOutput() if use_rich else ChatOutput()
    engine = ChatEngine(sandbox, out)
    out.info(engine.t("intro", url=sandbox.tg.base_url))
    out.info(engine.t("intro_time", when=engine.when(sandbox.clock.now())))
    for report_line in sandbox.demo_report.lines(sandbox.app.catalog.bind(engine.lang)):
        out.info(report_line)
    out.write(engine.t("help"))
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
