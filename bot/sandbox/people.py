"""Who the sandbox plays: demo people as fake Telegram and MAX users, their chats, and their roster rows."""

from __future__ import annotations

from bot.app import App
from bot.fakeapi import FakeTelegram, FakeUser, SentMessage
from bot.fakemax import DIALOG_CHAT_BASE, FakeMax
from bot.fakemax.user import FakeMaxUser
from bot.sandbox.demo import PEOPLE, PERSONAS, STRANGER, DemoPerson, Persona
from bot.sandbox.options import SandboxOptions, SandboxProblem
from bot.sandbox.wires import PlayedUser, Wire, max_view
from bot.services.people_text import name_key


class SandboxPeople:
    """The people half of ``Sandbox``: the demo people as users of either fake messenger."""

    tg: FakeTelegram
    mx: FakeMax | None
    app: App
    options: SandboxOptions
    users: dict[str, FakeUser]
    max_users: dict[str, FakeMaxUser]

    # -- people ---------------------------------------------------------------------------------

    def user_for(self, demo: DemoPerson) -> FakeUser:
        assert demo.tg_id is not None, f"{demo.full_name} is not in Telegram"
        user = self.users.get(demo.full_name)
        if user is None:
            digits = "".join(ch for ch in demo.phone if ch.isdigit())
            phone = "+7" + digits[1:] if digits else None
            user = self.tg.user(demo.tg_id, demo.first_name, demo.last_name, phone=phone,
                                language_code=self.options.lang)
            self.users[demo.full_name] = user
        return user

    def max_user_for(self, demo: DemoPerson) -> FakeMaxUser:
        """The person on MAX: the same number as their Telegram id, in MAX's own id space."""
        assert demo.tg_id is not None, f"{demo.full_name} is not in the demo messengers"
        if self.mx is None:
            raise SandboxProblem("no_max")
        user = self.max_users.get(demo.full_name)
        if user is None:
            digits = "".join(ch for ch in demo.phone if ch.isdigit())
            phone = "7" + digits[1:] if digits else None
            user = self.mx.user(demo.tg_id, demo.first_name, demo.last_name, phone=phone, locale=self.options.lang)
            self.max_users[demo.full_name] = user
        return user

    def played(self, demo: DemoPerson, wire: Wire = "telegram") -> PlayedUser:
        if wire == "max":
            return PlayedUser("max", mx=self.max_user_for(demo), max_server=self.mx)
        return PlayedUser("telegram", tg=self.user_for(demo))

    def chat_of(self, demo: DemoPerson, wire: Wire = "telegram") -> int:
        """The chat the bot writes to the person in: their Telegram id, or their MAX dialog."""
        assert demo.tg_id is not None
        if wire == "max":
            return self.max_user_for(demo).chat_id
        return demo.tg_id

    @staticmethod
    def wire_of_chat(chat_id: int) -> Wire:
        return "max" if chat_id >= DIALOG_CHAT_BASE else "telegram"

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """What the bot sent into one chat (either wire) or everywhere, as SentMessage."""
        if chat_id is None:
            views = [max_view(self.mx, m) for m in self.mx.sent()] if self.mx is not None else []
            return [*self.tg.sent(), *views]
        if self.wire_of_chat(chat_id) == "max":
            if self.mx is None:
                return []
            return [max_view(self.mx, m) for m in self.mx.sent(chat_id - DIALOG_CHAT_BASE)]
        return self.tg.sent(chat_id)

    def persona(self, key: str) -> Persona:
        for persona in PERSONAS:
            if persona.key == key:
                return persona
        raise KeyError(key)

    def people_in_telegram(self) -> list[DemoPerson]:
        return [p for p in (*PEOPLE, STRANGER) if p.tg_id is not None]

    def name_of(self, chat_id: int) -> str:
        if self.wire_of_chat(chat_id) == "max":
            return f"{self._name_of(chat_id - DIALOG_CHAT_BASE)} (MAX)"
        return self._name_of(chat_id)

    def _name_of(self, chat_id: int) -> str:
        for persona in PERSONAS:
            if persona.person.tg_id == chat_id:
                return persona.key
        for p in self.people_in_telegram():
            if p.tg_id == chat_id:
                return p.full_name
        return str(chat_id)

    async def _roster_person(self, demo: DemoPerson) -> int | None:

        key = name_key(demo.full_name)
        for person in await self.app.people.active():
            if name_key(person.full_name) == key and person.class_label == (demo.class_label or None):
                return person.id
        return None
