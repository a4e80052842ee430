"""Scripted conversations: play a TOML list of steps against the sandbox and check the replies.

A script::

    name = "parent"                       # optional; defaults to the file name
    start = "2026-12-01 10:00"            # optional school time to start at
    [[steps]]
    as = "parent_5a"                      # a persona key (see bot/sandbox/demo.py PERSONAS)
    send = "/start"
    expect = "поделитесь своим номером"   # substring of a new message to this persona

Each step may hold, in this order: `as`; one action (`send`, `press` — an inline or keyboard
button by its text, `contact = true`, `file` — a path relative to the script, `time` — `+3d`,
`+2h` or `YYYY-MM-DD HH:MM`); then checks on what the current persona got since the last action:
`expect` (a substring, or a list of substrings, each in some new message), `expect_not` (no new
message contains it), `expect_photo = true`, `expect_document = true | "name part"`,
`expect_buttons = ["text", ...]`, `expect_none = true`; `timeout` (seconds, default 5).
"Since the last action" means since this persona's own last action, or since time last moved,
whichever is later; so after `as = "..."` the checks see what reached that person meanwhile.
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import load_school_config
from bot.fakeapi import SentMessage
from bot.i18n import Translator
from bot.sandbox.chat import active_buttons
from bot.sandbox.clock_args import parse_start, parse_time_arg, school_config_path
from bot.sandbox.demo import PERSONAS, DemoPerson
from bot.sandbox.options import SandboxOptions, SandboxProblem
from bot.sandbox.runner import Sandbox
from bot.sandbox.wires import PlayedUser, Wire, parse_wire

ACTIONS = ("send", "press", "contact", "file", "time")
CHECKS = ("expect", "expect_not", "expect_photo", "expect_document", "expect_buttons", "expect_none")
KEYS = frozenset({"as", "wire", *ACTIONS, *CHECKS, "timeout", "note"})
DEFAULT_TIMEOUT = 5.0


class ScriptError(SandboxProblem):
    """The script itself is wrong (unknown key, unknown persona, bad value): a catalog key under
    `sandbox.script.` and its values, worded where it is shown."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(f"script.{key}")
        self.params = params
        self.args = (self.key, params)


class StepFailed(Exception):
    """An expectation did not hold; the message is the diff to show."""


@dataclass
class Script:
    name: str
    path: Path
    steps: list[dict[str, Any]]
    start: str | None = None


@dataclass
class ScriptResult:
    name: str
    passed: int
    total: int
    t: Translator  # the sandbox's language (Russian, or English with --lang en)
    failure: str | None = None
    transcript: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def summary(self) -> str:
        if self.ok:
            return self.t("sandbox.script.passed", name=self.name, n=self.passed)
        return self.t("sandbox.script.failed", name=self.name, step=self.passed + 1, total=self.total,
                      failure=self.failure)


def load_script(path: Path) -> Script:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _unreadable(path, exc) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScriptError("not_toml", path=path, error=exc) from None
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ScriptError("no_steps", path=path)
    personas = {p.key for p in PERSONAS}
    for n, step in enumerate(steps, 1):
        unknown = set(step) - KEYS
        if unknown:
            raise ScriptError("unknown_keys", path=path, n=n, keys=", ".join(sorted(unknown)),
                              known=", ".join(sorted(KEYS)))
        actions = [k for k in ACTIONS if k in step]
        if len(actions) > 1:
            raise ScriptError("one_action", path=path, n=n, actions=", ".join(actions))
        if "wire" in step and parse_wire(str(step["wire"])) is None:
            raise ScriptError("bad_wire", path=path, n=n, value=step["wire"])
        if "as" in step and step["as"] not in personas:
            raise ScriptError("unknown_persona", path=path, n=n, value=step["as"], known=", ".join(sorted(personas)))
    start = raw.get("start")
    return Script(name=str(raw.get("name") or path.stem), path=path, steps=steps,
                  start=str(start) if start else None)


def _unreadable(path: Path, exc: OSError) -> ScriptError:
    # A missing file is said in the reader's language; anything rarer keeps the system's words.
    if isinstance(exc, FileNotFoundError):
        return ScriptError("no_file", path=path)
    return ScriptError("unreadable", path=path, error=exc.strerror or exc)


def _describe(step: dict[str, Any]) -> str:
    """The step as its script writes it (TOML: `contact = true`, not Python's True)."""
    def value(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else repr(v)

    return ", ".join(f"{k} = {value(v)}" for k, v in step.items() if k != "note")


def _text(message: SentMessage) -> str:
    parts = [message.plain or ""]
    parts += [edit.text or "" for edit in message.edits]
    if message.filename:
        parts.append(message.filename)
    return "\n".join(parts)


class Player:
    def __init__(self, sandbox: Sandbox, script: Script) -> None:
        self.sb = sandbox
        self.script = script
        self.current: DemoPerson | None = None
        # The window the checks look at: per chat, (messages before the last action, edits then).
        self.marks: dict[int, tuple[int, dict[int, int]]] = {}
        self.last_action = "(start)"
        self.transcript: list[str] = []
        # The messenger each persona is played on (`wire = "max"` in a step); Telegram by default.
        self.wires: dict[str, Wire] = {}
        self.t = sandbox.app.catalog.bind(sandbox.options.lang)

    def _snapshot(self, chat_id: int | None = None) -> None:
        """Start a new window: for one chat (its persona acted) or for all (time moved)."""
        marks: dict[int, tuple[int, dict[int, int]]] = {}
        for message in self.sb.sent(chat_id):
            count, edits = marks.get(message.chat_id, (0, {}))
            edits[message.message_id] = len(message.edits)
            marks[message.chat_id] = (count + 1, edits)
        if chat_id is None:
            self.marks = marks
        else:
            self.marks[chat_id] = marks.get(chat_id, (0, {}))

    def new_messages(self, chat_id: int) -> list[SentMessage]:
        count, edits = self.marks.get(chat_id, (0, {}))
        return [
            m for i, m in enumerate(self.sb.sent(chat_id))
            if i >= count or len(m.edits) > edits.get(m.message_id, 0)
        ]

    @property
    def chat_id(self) -> int:
        if self.current is None or self.current.tg_id is None:
            raise ScriptError("no_persona")
        return self.sb.chat_of(self.current, self.wire)

    @property
    def wire(self) -> Wire:
        return self.wires.get(self.current.full_name, "telegram") if self.current else "telegram"

    def user(self) -> PlayedUser:
        if self.current is None:
            raise ScriptError("no_persona")
        return self.sb.played(self.current, self.wire)

    async def play(self) -> ScriptResult:
        self._snapshot()
        total = len(self.script.steps)
        for n, step in enumerate(self.script.steps):
            try:
                await self.step(step)
            except StepFailed as exc:
                header = self.t("sandbox.script.step", n=n + 1, what=_describe(step))
                if step.get("note"):
                    header += f"  ({step['note']})"
                return ScriptResult(self.script.name, n, total, self.t, f"{header}\n{exc}", self.transcript)
            except (SandboxProblem, LookupError, ValueError) as exc:
                said = exc.text(self.t) if isinstance(exc, SandboxProblem) else str(exc)
                return ScriptResult(self.script.name, n, total, self.t,
                                    f"{self.t('sandbox.script.step', n=n + 1, what=_describe(step))}\n  {said}",
                                    self.transcript)
        return ScriptResult(self.script.name, total, total, self.t, None, self.transcript)

    async def step(self, step: dict[str, Any]) -> None:
        if "as" in step:
            self.current = next(p.person for p in PERSONAS if p.key == step["as"])
        if "wire" in step:
            if self.current is None:
                raise ScriptError("no_persona")
            wire = parse_wire(str(step["wire"]))
            assert wire is not None  # checked by load_script
            self.wires[self.current.full_name] = wire
        for action in ACTIONS:
            if action in step:
                # A persona's checks look at what reached them since their own last action (or
                # since time last moved), so switching persona finds what arrived meanwhile.
                self._snapshot(None if action == "time" else self.chat_id)
                self.last_action = f"{action} = {step[action]!r}"
                await getattr(self, f"do_{action}")(step[action])
        timeout = float(step.get("timeout", DEFAULT_TIMEOUT))
        if "expect" in step:
            wanted = step["expect"] if isinstance(step["expect"], list) else [step["expect"]]
            for text in wanted:
                await self.wait(self.t("sandbox.script.want_text", text=text), lambda m, s=str(text): s in _text(m),
                                timeout)
        if step.get("expect_photo"):
            await self.wait(self.t("sandbox.script.want_photo"), lambda m: m.method == "sendPhoto", timeout)
        if "expect_document" in step:
            part = step["expect_document"]
            if part is True:
                await self.wait(self.t("sandbox.script.want_document"), lambda m: m.method == "sendDocument", timeout)
            else:
                await self.wait(self.t("sandbox.script.want_document_named", part=part),
                                lambda m: m.method == "sendDocument" and str(part) in (m.filename or ""), timeout)
        if "expect_buttons" in step:
            for text in step["expect_buttons"]:
                await self.wait(self.t("sandbox.script.want_button", text=text),
                                lambda m, s=str(text): any(s in b for row in m.buttons() + m.reply_buttons()
                                                           for b in row), timeout)
        if "expect_not" in step:
            await self.sb.settle()
            wanted = step["expect_not"] if isinstance(step["expect_not"], list) else [step["expect_not"]]
            for text in wanted:
                bad = [m for m in self.new_messages(self.chat_id) if str(text) in _text(m)]
                if bad:
                    raise StepFailed(self.diff(self.t("sandbox.script.want_no_text", text=text)))
        if step.get("expect_none"):
            await self.sb.settle()
            if self.new_messages(self.chat_id):
                raise StepFailed(self.diff(self.t("sandbox.script.want_nothing")))

    async def wait(self, what: str, predicate: Any, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        chat_id = self.chat_id
        while True:
            if any(predicate(m) for m in self.new_messages(chat_id)):
                return
            if loop.time() >= deadline:
                raise StepFailed(self.diff(what))
            await asyncio.sleep(0.02)

    def diff(self, expected: str) -> str:
        chat_id = self.chat_id
        got = self.new_messages(chat_id)
        who = self.sb.name_of(chat_id)
        lines = [self.t("sandbox.script.expected", who=who, action=self.last_action),
                 self.t("sandbox.script.got", n=len(got)), f"- {expected}"]
        for m in got:
            kind = {"sendPhoto": self.t("sandbox.script.photo"),
                    "sendDocument": self.t("sandbox.script.document")}.get(m.method)
            file = f" [{m.filename}]" if m.filename else ""
            lines.append(f"+ #{m.message_id} {kind + ' ' if kind else ''}{(m.plain or '')!r}{file}")
            buttons = [b for row in m.buttons() for b in row]
            keyboard = [b for row in m.reply_buttons() for b in row]
            if buttons:
                lines.append(self.t("sandbox.script.buttons", buttons=buttons))
            if keyboard:
                lines.append(self.t("sandbox.script.keyboard", keyboard=keyboard))
        if not got:
            lines.append(self.t("sandbox.script.nothing"))
        return "\n".join(lines)

    # -- actions --------------------------------------------------------------------------------

    def _log(self, text: str) -> None:
        self.transcript.append(f"{self.sb.name_of(self.chat_id)}: {text}")

    async def do_send(self, text: str) -> None:
        user = self.user()
        self._log(self.t("sandbox.script.says", text=text))
        await self.sb.act(user, user.send(str(text)))

    async def do_press(self, text: str) -> None:
        user = self.user()
        messages = self.sb.sent(self.chat_id)
        for button in active_buttons(messages):
            if button.text == text:
                self._log(self.t("sandbox.script.presses", text=text))
                if button.kind == "inline":
                    await self.sb.act(user, user.press(button.message, text))
                else:
                    await self.sb.act(user, user.press_reply(button.message, text))
                return
        # An inline button on an older message is still pressable in Telegram.
        for message in reversed(messages):
            if not message.deleted and any(text == b for row in message.buttons() for b in row):
                self._log(self.t("sandbox.script.presses_on", text=text, n=message.message_id))
                await self.sb.act(user, user.press(message, text))
                return
        shown = [b.text for b in active_buttons(messages)]
        raise StepFailed(self.t("sandbox.script.no_button", text=text, shown=shown))

    async def do_contact(self, value: Any) -> None:
        user = self.user()
        self._log(self.t("sandbox.script.shares_contact"))
        await self.sb.act(user, user.share_contact())

    async def do_file(self, value: str) -> None:
        user = self.user()
        path = (self.script.path.parent / str(value)).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _unreadable(path, exc) from None
        import mimetypes

        self._log(self.t("sandbox.script.sends_file", name=path.name))
        await self.sb.act(user, user.send_document(data, path.name, mimetypes.guess_type(path.name)[0] or "text/csv"))

    async def do_time(self, value: str) -> None:
        target = parse_time_arg(str(value), self.sb.clock.now(), self.sb.tz)
        when = f"{target.astimezone(self.sb.tz):%Y-%m-%d %H:%M}"
        self.transcript.append(self.t("sandbox.script.time_moved", when=when))
        await self.sb.travel(target)


async def play(sandbox: Sandbox, script: Script) -> ScriptResult:
    return await Player(sandbox, script).play()


async def run_script(path: Path, options: SandboxOptions) -> ScriptResult:
    """Start a fresh sandbox, play the script in it, stop. The script's `start` wins over options."""
    script = load_script(path)
    if script.start and options.start is None:
        from zoneinfo import ZoneInfo


        school = load_school_config(school_config_path(options.data_dir))
        options.start = parse_start(script.start, ZoneInfo(school.school.timezone))
    if any(parse_wire(str(step.get("wire", ""))) == "max" for step in script.steps):
        options.max = True  # a script that plays someone on MAX needs the MAX wire served
    async with Sandbox.running(options) as sandbox:
        return await play(sandbox, script)
