"""Which messengers reach a person, and the log of what was sent where, as values (#27). They name
bot.channels' Channel and DataClass, so they sit beside it in the kernel rather than in bot/domain:
storage returns them, services and the wires read them, neither through the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class SendRecord:
    at: datetime
    channel: str
    data_class: DataClass
    outcome: str
    purpose: str = ""
