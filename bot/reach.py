"""Which messengers reach a person, and the log of what was sent where, as values (#27). They name
bot.channels' Channel and DataClass, so they sit beside it in the kernel rather than in bot/domain:
storage returns them, services and the wires read them, neither through the other."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.channels import Channel, DataClass
from bot.domain.people import Account


@dataclass(frozen=True)
class Reach:
    """A person's accounts per messenger and the channel they prefer."""

    person_id: int
    accounts: tuple[Account, ...]
    chosen: Channel | None

    def account(self, channel: Channel) -> Account | None:
        return next((a for a in self.accounts if a.channel == channel.value), None)

    def user_id(self, channel: Channel) -> int | None:
        found = self.account(channel)
        return None if found is None else found.user_id

    @property
    def linked(self) -> list[Channel]:
        """The channels the person has an account on, in Channel order (unknown values skipped)."""
        known = {c.value: c for c in Channel}
        return [known[a.channel] for a in self.accounts if a.channel in known]

    @property
    def reachable(self) -> list[Channel]:
        return [c for c in self.linked if (found := self.account(c)) is not None and found.reachable]

    @property
    def preferred(self) -> Channel:
        """The chosen channel; unchosen: the first messenger (Channel order) they are linked on."""
        if self.chosen is not None:
            return self.chosen
        linked = self.linked
        return linked[0] if linked else next(iter(Channel))


class Via(Enum):
    """Which of a school's bots on one messenger a message goes by (#27 item 3). A district serves a
    school through the school's own bot and through the district bot (bot/multibot.py); a bot may
    write only to someone who has written to it (Telegram: 403 "bot can't initiate conversation"), so
    the same account may be reachable through one and not the other."""

    OWN = "own"  # the school's own bot
    DISTRICT = "district"  # the district bot, under the school's name


def via(account: Account, served: Collection[Via]) -> Via | None:
    """The bot a message to ``account`` goes by, of the school's bots ``served`` on its messenger: the
    school's own bot if the account has written to it, else the district bot if it has written to that
    one. An account known through neither (seen before this was recorded, migration 040) goes by the
    school's own bot, as it did then; a refusal there falls back only once the district bot is known
    to reach it. None: no bot of the school's serves the messenger."""
    if len(served) <= 1:
        return next(iter(served), None)
    if account.via_own:
        return Via.OWN
    return Via.DISTRICT if account.via_district else Via.OWN


@dataclass(frozen=True)
class SendRecord:
    at: datetime
    channel: str
    data_class: DataClass
    outcome: str
    purpose: str = ""
