"""The flows of a school's people that a breadth-first walk cannot find (issue #22, item 6): screens
that need the right answer typed or the right file sent, in order, before their next button means
anything. Each flow is a person's steps, pressing the buttons the bot answered with (found by their
callback data); the steps are recorded, so they can be replayed on another messenger."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.services.backup import journal_done_data
from bot.tg.callbacks import AdminClaim, ClaimAction
from tests.codes_helpers import person_id
from tests.harness import DIRECTOR, IT_OFFICER, PARENT_ONE, TEACHER, Harness
from tests.help_helpers import PHONES
from tests.walk_engine import Action, Step, contact, file, photo, press, reply, run_step, text
from tests.walk_school import ADMIN_ID, FREE_TEXT, first_roster, notice_buttons, second_roster

# A survey from a file, as an author writes one.
SURVEY_TOML = """title = "Удобство электронного журнала"
audience = "role:teacher"
anonymous = false

[[questions]]
kind = "single"
key = "convenient"
text = "Удобно ли вам работать в журнале?"
options = ["Да", "Нет"]

[[questions]]
kind = "multi"
key = "used"
text = "Что вы уже делали в журнале?"
options = ["Оценки", "Домашние задания", "Сообщения"]

[[questions]]
kind = "number"
key = "hours"
text = "Сколько часов в неделю вы работаете в журнале?"

[[questions]]
kind = "text"
key = "wishes"
text = "Что улучшить?"
optional = true
"""
FILE_SURVEY = "Удобство электронного журнала"
# A one-page PDF: the document an acknowledgement asks people to read.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n" \
      b"trailer<</Root 1 0 R>>\n%%EOF\n"


@dataclass
class Script:
    """One person's flow: each action a step; ``pick`` presses the newest button matching a pattern."""

    h: Harness
    who: int
    notes: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    async def do(self, *actions: Action) -> Step:
        step = await run_step(self.h, self.who, actions)
        self.steps.append(step)
        return step

    def labelled(self, words: str, pattern: str) -> str:
        """The newest button matching ``pattern`` whose label has ``words`` in it."""
        for step in reversed(self.steps):
            for label, data in step.labels:
                if words in label and re.fullmatch(pattern, data):
                    return data
        raise AssertionError(f"no button {pattern!r} labelled {words!r}")

    def button(self, pattern: str) -> str:
        for step in reversed(self.steps):
            for data in step.buttons:
                if re.fullmatch(pattern, data):
                    return data
        raise AssertionError(f"no button {pattern!r} among {[s.buttons for s in self.steps[-3:]]}")

    async def pick(self, pattern: str) -> Step:
        return await self.do(press(self.button(pattern)))

    def found(self, pattern: str) -> str:
        for step in reversed(self.steps):
            for s in step.strings:
                match = re.search(pattern, s)
                if match:
                    return match.group(1)
        raise AssertionError(f"{pattern!r} not answered")


Flow = Callable[[Script], Awaitable[None]]


async def imports(s: Script) -> None:
    """The IT officer sends the roster twice: first adding people (preview, apply), then moving a
    pupil of one name (which one? the bot asks) and letting a teacher go (the bot asks to confirm)."""
    await s.do(file("roster.csv", first_roster(), "text/csv"))
    await s.pick(r"imp:roster:0")
    await s.pick(r"imp:roster:1")
    await s.do(file("roster-2.csv", second_roster(), "text/csv"))
    await s.pick(r"imp:roster:0")
    await s.pick(r"imq:roster:0")
    await s.pick(r"imc:roster")
    await s.do(file("roster-3.csv", second_roster(), "text/csv"))
    await s.pick(r"imp:roster:0")
    await s.pick(r"adm:cancel")


async def admin_claim(s: Script) -> None:
    """Someone in ADMIN_IDS and in no roster row, on Telegram: the claim comes as two messages, a
    public question whose buttons need no names ("find me by my phone", "not in the list") and the
    roster's IT officers by name, which the municipal rules replace by the pointer. Its buttons are
    pressed: by phone, then "not in the list" (a record of their own, which the IT officer can merge
    into the roster's second IT officer)."""
    await s.do(text("/start"))
    await s.do(press(AdminClaim(action=ClaimAction.CONTACT).pack()))
    await s.do(press(AdminClaim(action=ClaimAction.NEW).pack()))


async def sign_in_link(s: Script) -> None:
    """The IT officer makes a one-time link for a parent who has not joined yet."""
    await s.do(text("/admin"))
    await s.pick(r"adm:link")
    await s.do(text("Смирнов Олег"))
    await s.pick(rf"lnk:{await person_id(s.h.app, 'Смирнов Олег Павлович')}")
    s.notes["token"] = s.found(r"\?start=(\S+)")


async def newcomer(s: Script) -> None:
    """The parent opens the bot (the bot asks for their phone), follows the link they were given, and
    shares their phone as well."""
    await s.do(text("/start"))
    await s.do(text(f"/start {s.notes.get('token', 'no-token')}"))
    await s.do(contact(PHONES[PARENT_ONE]))


async def training(s: Script) -> None:
    """A parents' meeting for 5А: title, audience, class, date, place, create; then attendance."""
    await s.do(text("/admin"))
    await s.pick(r"adm:training")
    await s.pick(r"tra:new.*")
    await s.do(text("Как войти в электронный дневник"))
    await s.pick(r"tra:aud:.*:parents")
    await s.pick(r"tra:cls:.*:5А")
    await s.do(text("15.12.2026 16:00"))
    await s.do(text("Актовый зал"))
    await s.pick(r"tra:create.*")
    await s.pick(r"tra:view.*")
    await s.pick(r"tra:marks.*")
    await s.pick(r"tra:mark:.*")
    await s.pick(r"tra:xlsx.*")
    await s.pick(r"tra:list.*")


async def surveys(s: Script) -> None:
    """Three surveys: parents of 5А (a template), all staff (a template), teachers (a file)."""
    await s.do(text("/admin"))
    await s.pick(r"adm:surveys")
    for template, audience in (("parents_readiness", "parents"), ("staff_ict", "role.staff")):
        await s.pick(r"sva:new.*")
        await s.pick(rf"sva:tpl:.*:{template}")
        await s.pick(rf"sva:aud:.*:{re.escape(audience)}")
        if audience == "parents":
            await s.pick(r"sva:cls:.*:5А")
        await s.pick(r"sva:days:.*:5")
        await s.pick(r"sva:anon:.*:0")
        await s.pick(r"sva:create.*")
        await s.do(text("/admin"))
        await s.pick(r"adm:surveys")
    await s.pick(r"sva:new.*")
    await s.pick(r"sva:file.*")
    await s.do(file("опрос.toml", SURVEY_TOML.encode(), "application/toml"))
    await s.pick(r"sva:aud:.*:role\.teacher")
    await s.pick(r"sva:days:.*:3")
    await s.pick(r"sva:anon:.*:0")
    await s.pick(r"sva:create.*")


async def acknowledgements(s: Script) -> None:
    """Two «ознакомлен» campaigns: a document for everyone, a text for the parents of 5А."""
    await s.do(text("/surveys"))
    await s.pick(r"aka:list.*")
    await s.pick(r"aka:new.*")
    await s.do(file("Положение об ЭЖ.pdf", PDF, "application/pdf"))
    await s.pick(r"aka:item:.*:12")
    await s.pick(r"aka:aud:.*:all")
    await s.pick(r"aka:create.*")
    await s.pick(r"aka:new.*")
    await s.do(text("Прошу ознакомиться с правилами работы в электронном дневнике."))
    await s.pick(r"aka:item:.*:12")
    await s.pick(r"aka:aud:.*:class")
    await s.pick(r"aka:aud:.*:parents\.5А")
    await s.pick(r"aka:create.*")


async def answer_by_reply(s: Script) -> None:
    """The IT officer answers a question by replying to the message that offers «Ответить» for it."""
    await s.do(text("/questions"))
    await s.pick(r"tk:view:\d+")
    await s.do(reply("Код придёт, как только семья даст согласие.", s.button(r"tk:answer:\d+")))


async def proofs(s: Script) -> None:
    """The IT officer sends proofs: a document for a plan item whose documents people must read (6,
    12-14: a local act), and one for the codes handed out (11)."""
    await s.do(text("/tasks"))
    for page in range(1, 4):
        if any(re.fullmatch(r"tsk:open:(6|12|13|14):.*", d) for step in s.steps[-1:] for d in step.buttons):
            break
        await s.pick(rf"tpg:{page}")
    await s.pick(r"tsk:open:(6|12|13|14):.*")
    await s.pick(r"tsk:done:.*")
    await s.do(file("Положение об ЭЖ.pdf", PDF, "application/pdf"))
    await s.do(text("/tasks"))
    await s.pick(r"tsk:open:11:.*")
    await s.pick(r"tsk:done:.*")
    await s.do(file("Коды выданы.pdf", PDF, "application/pdf"))


async def review(s: Script) -> None:
    """The director returns the backup's proof with a comment, accepts the local act and sends it to
    the staff to be read."""
    waiting = [data for data in await notice_buttons(s.h, s.who) if data.startswith("tpr:")]
    accept = [data for data in waiting if data.startswith("tpr:accept:")]
    back = [data for data in waiting if data.startswith("tpr:return:")]
    assert len(accept) == len(back) == 2, waiting
    await s.do(press(back[-1]))
    await s.do(text("Нет подписи директора"))
    await s.do(press(accept[0]))
    await s.pick(r"aka:proof:.*")
    await s.pick(r"aka:aud:.*:staff")
    await s.pick(r"aka:create.*")


async def answering(s: Script) -> None:
    """A teacher answers the file's survey: a choice, several choices, a number (first /cancel, then
    typed), the optional text skipped; stops for later, then walks through the answers again and
    writes the text after all."""
    await s.do(text("/surveys"))
    await s.do(press(s.labelled(FILE_SURVEY, r"svy:open:.*")))
    await s.pick(r"svy:a:\d+:0:0:.*")
    await s.pick(r"svy:a:\d+:1:1:.*")
    await s.pick(r"svy:done:\d+:1:.*")
    await s.do(text("/cancel"))
    await s.do(press(s.labelled(FILE_SURVEY, r"svy:open:.*")))
    await s.do(text("6"))
    await s.pick(r"svy:skip:.*")
    await s.pick(r"svy:review:.*")
    await s.pick(r"svy:later:.*")
    await s.pick(r"svy:review:.*")
    await s.pick(r"svy:a:\d+:0:1:1")
    await s.pick(r"svy:done:\d+:1:0:1")
    await s.do(text("7"))
    await s.do(text(FREE_TEXT))


async def results(s: Script) -> None:
    """The IT officer closes the file's survey early and reads its results and free-text answers."""
    await s.do(text("/admin"))
    await s.pick(r"adm:surveys")
    view = s.labelled(FILE_SURVEY, r"sva:view:.*")
    await s.do(press(view))
    await s.pick(r"sva:close:.*")
    await s.do(press(view))
    await s.pick(r"sva:texts:.*")


async def journal(s: Script) -> None:
    """The quarter's journal backup: the nudge's «done», the label of the media, a photo of it."""
    year = s.h.app.school.school_year.year
    await s.do(press(journal_done_data(year, 2)))
    await s.do(text("Флешка №2, сейф директора"))
    await s.do(photo("journal-photo-1"))


# (who, what, where it is done first: "max", then replayed on Telegram; "telegram": there only)
FLOWS: list[tuple[int, Flow, str]] = [
    (IT_OFFICER, imports, "max"),
    (ADMIN_ID, admin_claim, "telegram"),
    (IT_OFFICER, sign_in_link, "max"),
    (PARENT_ONE, newcomer, "max"),
    (IT_OFFICER, training, "max"),
    (IT_OFFICER, surveys, "max"),
    (IT_OFFICER, acknowledgements, "max"),
    (IT_OFFICER, answer_by_reply, "max"),
    (IT_OFFICER, proofs, "max"),
    (DIRECTOR, review, "max"),
    (TEACHER, answering, "max"),
    (IT_OFFICER, results, "max"),
    (IT_OFFICER, journal, "max"),
]


async def run_flow(h: Harness, who: int, flow: Flow, notes: dict[str, str]) -> list[Step]:
    script = Script(h, who, notes)
    await flow(script)
    await script.do(text("/cancel"))
    return script.steps
