"""What services need from the outside, as small Protocols: the inline buttons put on outbox
messages (the messenger-facing package implements them, see bot/tg/buttons.py) and the typed
listeners through which one capability reacts to another (consent given -> codes delivered; a
person linked -> their staff card)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.people import Person
from bot.i18n import Translator
from bot.unit_of_work import Transaction

if TYPE_CHECKING:
    from bot.domain.codes import Code
    from bot.services.tasks import Task

# An inline keyboard in its wire (JSON) form, as the outbox stores it.
Markup = dict[str, Any]


class Buttons(Protocol):
    """The inline buttons of the messages services enqueue."""

    def code_card(self, code_id: int, t: Translator, recipient: Person) -> Markup: ...

    def code_family(self, codes: list[tuple[Code, Person]], t: Translator) -> Markup: ...

    def consent_open(self, label: str, version: int) -> Markup: ...

    def consent_destruction(self, task_id: int, t: Translator) -> Markup: ...

    def archive_open(self, label: str) -> Markup: ...

    def task_plan(self, tasks: list[Task], t: Translator) -> Markup: ...

    def proof_review(self, proof_id: int, t: Translator, *, with_name: str | None = None) -> Markup: ...

    def task_returned(self, item_number: str, occurrence_key: str, t: Translator) -> Markup: ...

    def ticket(self, t: Translator, ticket_id: int, *, answered: bool) -> Markup: ...

    def training_rsvp(self, session_id: int, t: Translator) -> Markup: ...

    def survey_open(self, survey_id: int, label: str) -> Markup: ...

    def ack_confirm(self, campaign_id: int, label: str) -> Markup: ...


class ConsentGivenListener(Protocol):
    """Called inside the transaction that recorded a consent that may open the gate for a child.
    `parent_id` is None for a paper form whose signer is unknown and who has no parent on file."""

    async def __call__(
        self, conn: Transaction, child_id: int, parent_id: int | None, now: datetime, /
    ) -> None: ...


class PersonLinkedListener(Protocol):
    """Called inside the transaction that linked a messenger account to a roster person."""

    async def __call__(self, conn: Transaction, person: Person, now: datetime, /) -> None: ...


class Renderer(Protocol):
    """Produces the bytes (and a file name) of an outbox photo/document from its args."""

    async def __call__(self, args: dict[str, Any], /) -> tuple[bytes, str]: ...
