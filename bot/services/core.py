"""What every capability's service is built with: settings, the school (and its calendar), the
database, the clock, the catalog, the roster, the outbox's wake-up, and the ports the
messenger-facing package implements. Typed; built once by the composition root (bot/app.py),
which nothing below it imports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.channels import Channel, ChannelPolicy, DataClass
from bot.clock import Clock
from bot.config import SchoolConfig, Settings
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Catalog, Translator
from bot.paths import CONTENT_DIR
from bot.services.faq import Faq, FaqLibrary
from bot.services.imports import Importer
from bot.services.ports import Buttons, ConsentGivenListener, PersonLinkedListener, Renderer
from storage.db import Database
from storage.help import HelpRepo
from storage.people import PersonRepo


@dataclass(kw_only=True)
class Core:
    settings: Settings
    school: SchoolConfig
    db: Database
    clock: Clock
    catalog: Catalog
    people: PersonRepo
    buttons: Buttons
    # What the capabilities declared (see bot/capabilities.py): assembled by the root, read here.
    importers: dict[str, Importer] = field(default_factory=dict)
    renderers: dict[str, Renderer] = field(default_factory=dict)
    # (action id, catalog key of its label) of the IT officer's /admin menu, in display order.
    admin_actions: list[tuple[str, str]] = field(default_factory=list)
    link_listeners: list[PersonLinkedListener] = field(default_factory=list)
    consent_listeners: list[ConsentGivenListener] = field(default_factory=list)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    bot_username: str = ""
    # The channel policy in force (issue #17): set when MAX is served or school.toml has [channels];
    # None for a Telegram-only school without it (everything goes to Telegram, as before).
    channel_policy: ChannelPolicy | None = None
    # Long-lived state of capabilities, typed (this was an untyped `extras` dict).
    faq_library: FaqLibrary = field(default_factory=lambda: FaqLibrary.load(CONTENT_DIR / "faq"))
    faq_merged: dict[str, tuple[Faq, Faq]] = field(default_factory=dict)
    send_at_cache: dict[date, datetime] = field(default_factory=dict)
    plan_checked: bool = False
    # Tasks the bot runs beside the updates (a broadcast's progress message), cancelled at shutdown.
    background_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def help(self) -> HelpRepo:
        return HelpRepo(self.db)

    def translator_for(self, person: Person) -> Translator:
        """The catalog in the language a person chose (Russian unless they chose otherwise)."""
        return self.catalog.bind(person.lang or DEFAULT_LANG)

    def forbids(self, channel: Channel, data_class: DataClass) -> bool:
        """Whether the channel policy keeps ``data_class`` off ``channel`` (a direct answer then sends
        the pointer text instead)."""
        return self.channel_policy is not None and not self.channel_policy.allows(channel, data_class)

    def wake_sender(self) -> None:
        self.outbox_wakeup.set()
