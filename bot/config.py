"""Settings: secrets from the environment, school facts from `school.toml`.

Both fail at start with a message that names the offending field, never with a traceback.
"""

from __future__ import annotations

import functools
import itertools
import re
import ssl
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.channels import Channel, ChannelPolicy, ChannelPolicyError, parse_channels
from bot.domain.calendar import Quarter, SchoolCalendar
from bot.i18n import DEFAULT_LANG, Catalog, Translator
from bot.paths import CONTENT_DIR

EXAMPLE_SCHOOL_CONFIG = CONTENT_DIR / "school.example.toml"


class ConfigError(Exception):
    """Bad settings; the message names the field and is meant for the operator."""


@functools.cache
def _texts() -> Translator:
    """The operator's messages (Russian); loaded only when something is wrong."""
    return Catalog.load().bind(DEFAULT_LANG)


def startup_text(key: str, /, **params: Any) -> str:
    return _texts()(f"startup.{key}", **params)


def webhook_text(key: str, /, **params: Any) -> str:
    """The operator's messages about receiving updates (webhook or polling), content/i18n/*/webhook.toml."""
    return _texts()(f"webhook.{key}", **params)


def ordinal(n: int) -> str:
    """A quarter as a person counts it: 1 -> "1-я" (четверть)."""
    return f"{n}-я"


def _place(loc: tuple[int | str, ...]) -> str:
    """("school_year", "quarters", 3, "start") -> "раздел [school_year], 4-я четверть, поле start"."""
    parts: list[str] = []
    items = list(loc)
    if items and isinstance(items[0], str):
        parts.append(startup_text("place_section", section=items.pop(0)))
    while items:
        item = items.pop(0)
        following = items[0] if items else None
        if isinstance(item, str) and isinstance(following, int):
            items.pop(0)
            if item == "quarters":
                parts.append(startup_text("place_quarter", n=following + 1))
            else:
                parts.append(startup_text("place_item", field=item, n=following + 1))
        elif isinstance(item, int):
            parts.append(startup_text("place_index", n=item + 1))
        else:
            parts.append(startup_text("place_field", field=item))
    return ", ".join(parts)


_BOUNDS = {"greater_than_equal": ("too_small", "ge"), "greater_than": ("must_exceed", "gt"),
           "less_than_equal": ("too_large", "le"), "less_than": ("must_be_below", "lt")}
_BY_TYPE = {
    "missing": "missing", "extra_forbidden": "extra", "string_type": "text", "string_too_short": "empty",
    "list_type": "list", "date_parsing": "date", "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date", "date_type": "date", "int_parsing": "integer", "int_type": "integer",
    "int_from_float": "integer", "float_parsing": "number", "float_type": "number", "bool_parsing": "boolean",
    "bool_type": "boolean",
}


def _message(err: Any) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    value = err.get("input")
    shown = value if isinstance(value, str | int | float | bool | date | time) else ""
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind in _BOUNDS:
        key, bound = _BOUNDS[kind]
        return startup_text(key, limit=ctx.get(bound, ""))
    if kind == "literal_error":
        return startup_text("choice", expected=ctx.get("expected", ""), value=shown)
    if kind in _BY_TYPE:
        return startup_text(_BY_TYPE[kind], value=shown)
    return str(err.get("msg", kind))


def _format_validation_error(source: str, exc: ValidationError, *, environment: bool = False) -> str:
    """One line per problem, in Russian, naming the field the way the person wrote or counts it."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = _message(err)
        if environment:
            name = str(loc[0]).upper() if loc else "?"
            lines.append(startup_text("where_env", name=name, message=message))
        elif loc:
            lines.append(startup_text("where_file", source=source, place=_place(loc), message=message))
        else:
            lines.append(f"{source}: {message}")
    return "\n".join(lines)


class Settings(BaseSettings):
    # hide_input_in_errors: a ValidationError's text never repeats a value (DATABASE_URL holds a
    # password, BOT_TOKEN is one); the startup messages are built from its errors() (_message).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    bot_token: SecretStr | None = None
    bot_api_url: str | None = None
    # MAX (issue #17): the bot's MAX token; with it `schoolbot run` serves MAX too (or MAX alone).
    max_token: SecretStr | None = None
    max_api_url: str | None = None
    # A PEM file trusted for MAX instead of the shipped Russian Trusted Root CA (content/certs); the
    # public roots stay trusted either way.
    max_ca_file: Path | None = None
    database_path: Path = Path("data/schoolbot.sqlite3")
    # PostgreSQL (#27): DATABASE_URL=postgresql://user:password@host:5432/db puts the data there, in the
    # schema DATABASE_SCHEMA, instead of the SQLite file at DATABASE_PATH (unset: SQLite, the
    # one-school default). A secret: the password never reaches a log or an error text.
    database_url: SecretStr | None = None
    database_schema: str = Field(default="school", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    backup_dir: Path = Path("data/backups")
    # Set by the IT officer on the server only: the password of the encrypted off-site archive that
    # /backup can send. Never sent through the messenger, never written beside an archive.
    backup_passphrase: SecretStr | None = None
    school_config: Path = Path("school.toml")
    # The bot's administrators before any roster says so: messenger accounts, ADMIN_IDS="123 max:456"
    # (a plain number is a Telegram id, `max:` a MAX id; the two id spaces are apart).
    admin_ids: Annotated[list[tuple[Channel, int]], NoDecode] = Field(default_factory=list)
    # Every send (direct answers and bulk) shares `send_rate`; bulk work alone is capped at
    # `outbox_rate` inside it. Telegram allows about 30 messages/s per bot.
    send_rate: float = Field(default=30.0, gt=0, le=30)
    outbox_rate: float = Field(default=25.0, gt=0, le=30)
    outbox_per_chat_rate: float = Field(default=1.0, gt=0, le=1)
    log_level: str = "INFO"
    # Webhooks (issue #23): with WEBHOOK_URL set, `schoolbot run` receives updates by webhook instead
    # of long polling. WEBHOOK_URL is the public HTTPS address the reverse proxy serves (Telegram's
    # webhook is WEBHOOK_URL/telegram, MAX's WEBHOOK_URL/max); the bot listens on plain HTTP at
    # WEBHOOK_LISTEN:WEBHOOK_PORT behind it. WEBHOOK_SECRET is checked on every request (each
    # messenger gets its own secret derived from it, see bot/webhook.py).
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    # A district (issue #27): with DISTRICT_DIR set, one service holds many schools. The folder keeps
    # the district's registry (district.db: the schools, their settings and tokens, the district's
    # operators) and each school's own store (schools/<key>/), see bot/district/. Unset: the one
    # school of school.toml and DATABASE_PATH, exactly as before.
    district_dir: Path | None = None
    # Several workers (issue #27, docs/redis.md): with REDIS_URL set, conversation state lives in Redis
    # (aiogram's RedisStorage) and every bot token's send budget is shared through it by all the
    # processes that send with that token. Unset: state in the database, the budget in this process.
    # A secret (it may carry a password): never logged.
    redis_url: SecretStr | None = None
    # The first part of every key this service writes to Redis. A district running several services
    # on one Redis (or one per school) gives each its own prefix; a school's conversations inside one
    # service are told apart by the bot id (one bot per school) or aiogram's destiny.
    redis_prefix: str = "schoolbot"
    # Sockets to Redis this process keeps at most, for every school and bot together: one client per
    # URL on one pool (bot/tg/redis_clients.py; docs/redis.md has the figure and the LimitNOFILE sum).
    redis_max_connections: int = Field(default=16, ge=1, le=1000)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        # ADMIN_IDS="1,2 max:3" is the natural way to write it in .env; JSON lists work too.
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, int | str):
            value = [value]
        if isinstance(value, list | tuple):
            return [_admin_account(each) for each in value]
        return value

    def is_admin(self, channel: Channel, user_id: int) -> bool:
        """Whether ADMIN_IDS names this messenger account."""
        return (channel, user_id) in self.admin_ids

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message names the scheme only: the URL holds the password.
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must start with postgresql:// (e.g. postgresql://user@host:5432/db)")
        return value

    @field_validator("bot_api_url", "max_api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(startup_text("url"))
        return value.rstrip("/") if value else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(startup_text("redis_url"))
        return value

    @field_validator("redis_prefix")
    @classmethod
    def _check_redis_prefix(cls, value: str) -> str:
        if not REDIS_PREFIX.fullmatch(value):
            raise ValueError(startup_text("redis_prefix", value=value))
        return value

    @field_validator("max_ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        try:
            ssl.create_default_context().load_verify_locations(cafile=str(value))
        except (OSError, ssl.SSLError, ValueError):
            raise ValueError(startup_text("ca_file", value=str(value))) from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = urlsplit(value)
        # Plain HTTP only on this machine (tests and the sandbox against the fakes): both messengers
        # deliver to HTTPS only.
        local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
        if (parsed.scheme != "https" and not local) or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError(webhook_text("bad_url"))
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(webhook_text("bad_secret"))
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(webhook_text("no_secret"))
        return self


# What both messengers accept as a webhook secret (MAX: 5-256 of these; Telegram: 1-256); at least
# 16 so that it cannot be guessed.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")


# A Redis key prefix: no ':' (the keys' own separator), no spaces or braces (hash tags).
REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")


_ADMIN_PREFIXES = {"": Channel.TELEGRAM, "telegram": Channel.TELEGRAM, "tg": Channel.TELEGRAM, "max": Channel.MAX}


def _admin_account(value: Any) -> Any:
    """One ADMIN_IDS entry: a number (a Telegram id), `max:<number>` or `telegram:<number>`."""
    if isinstance(value, bool):
        raise ValueError(startup_text("admin_id", value=str(value)))
    if isinstance(value, int):
        return (Channel.TELEGRAM, value)
    if not isinstance(value, str):
        return value  # a (channel, id) pair: pydantic checks it
    prefix, _, number = value.strip().rpartition(":")
    channel = _ADMIN_PREFIXES.get(prefix.strip().lower())
    if channel is None or not number.strip().isdigit():
        raise ValueError(startup_text("admin_id", value=value.strip()))
    return (channel, int(number))


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error("environment", exc, environment=True)) from None


def _parse_hhmm(value: Any) -> Any:
    if isinstance(value, str):
        try:
            hours, minutes = value.split(":")
            return time(int(hours), int(minutes))
        except ValueError:
            raise ValueError(startup_text("hhmm", value=value)) from None
    return value


class SchoolInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    short_name: str = ""
    address: str = ""
    timezone: str = "Europe/Moscow"
    it_officer_contact: str = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(startup_text("timezone", value=value)) from None
        return value


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    # ISO weekdays, 1 = Monday.
    working_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    holidays: list[date] = Field(default_factory=list)

    _hhmm = field_validator("quiet_start", "quiet_end", "work_start", "work_end", mode="before")(_parse_hhmm)

    @field_validator("working_days")
    @classmethod
    def _check_days(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError(startup_text("working_days"))
        return sorted(set(value))

    @model_validator(mode="after")
    def _check_window(self) -> Hours:
        if self.work_start >= self.work_end:
            raise ValueError(startup_text("work_window"))
        return self


class QuarterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: date
    end: date

    @model_validator(mode="after")
    def _check(self) -> QuarterSpec:
        if self.start > self.end:
            raise ValueError(startup_text("quarter_order", start=self.start, end=self.end))
        return self


class SchoolYear(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2000, le=2100)
    quarters: list[QuarterSpec]

    @model_validator(mode="after")
    def _check(self) -> SchoolYear:
        if len(self.quarters) != 4:
            raise ValueError(startup_text("quarter_count", count=len(self.quarters)))
        problems = []
        numbered = list(enumerate(self.quarters, start=1))
        for i, a in numbered:
            for j, b in numbered[i:]:
                if b.start <= a.end and a.start <= b.end:
                    problems.append(startup_text(
                        "quarters_overlap", first=ordinal(i), second=ordinal(j), end=a.end, start=b.start
                    ))
        if not problems:
            for (i, a), (j, b) in itertools.pairwise(numbered):
                if b.start < a.start:
                    problems.append(startup_text("quarters_order", first=ordinal(i), second=ordinal(j),
                                       first_start=a.start, second_start=b.start))
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Platform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "Дневник.ру"
    url: str = "https://dnevnik.ru"
    operator: str = "ООО «Дневник.ру»"
    operator_address: str = ""
    code_entry_hint: str = "Откройте dnevnik.ru, нажмите «Регистрация» и введите код"
    code_url_template: str = ""


class MessengerSpec(BaseModel):
    """A messenger the school's bot serves, as the consent form names it with its operator."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    operator: str = ""
    address: str = ""


class ConsentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paper_original_required: bool = True
    # The consent document's term (its section "Срок действия согласия"), which `new-year` follows:
    # "study_period" (the shipped text: for the whole time the child studies at the school) carries
    # consents into the next school year; "school_year" asks every family again each September.
    term: Literal["study_period", "school_year"] = "study_period"
    paper_original_note: str = "Подписанный бумажный экземпляр согласия сдаётся классному руководителю."
    # Invitation codes wait until staff record the signed paper original, not only the button press.
    codes_wait_for_original: bool = False
    # Who else processes data for the school, named in the consent form. No hosting_name: the school
    # hosts the bot itself, and the form names no hosting processor. An operator or address left
    # empty is a blank line to fill in by hand, never guessed.
    hosting_name: str = ""
    hosting_address: str = ""
    # Every messenger the school serves, each with its operator ([[consent.messengers]]). Empty: the
    # one messenger of the fields below (the form before MAX).
    messengers: list[MessengerSpec] = Field(default_factory=list)
    messenger_name: str = "Telegram"
    messenger_operator: str = ""
    messenger_address: str = ""

    def served_messengers(self) -> list[MessengerSpec]:
        if self.messengers:
            return self.messengers
        return [MessengerSpec(name=self.messenger_name, operator=self.messenger_operator,
                              address=self.messenger_address)]


# 152-FZ art. 21 part 5: after a withdrawal the data are destroyed within thirty days at most.
MAX_WITHDRAWAL_DAYS = 30


class RetentionSettings(BaseModel):
    """How long the bot keeps a person's data (#24 item 3). The consent document (its section 6)
    gives the term: "for the period of the child's study" — when the person leaves the school (a
    graduate, a record the roster no longer lists) the purpose is reached, and 152-FZ art. 21 part 4
    allows thirty days to destroy what was collected for it; after a withdrawal, part 5 does the
    same. The consent ledger itself is the archive's proof of the decisions and stays (its rows
    hold ids, the version, the hash and the time), see bot/services/retention.py."""

    model_config = ConfigDict(extra="forbid")
    after_leaving_days: int = Field(30, ge=0, le=3650)
    after_withdrawal_days: int = 30
    backup_days: int = Field(30, ge=1, le=3650)

    @field_validator("after_withdrawal_days")
    @classmethod
    def _check_withdrawal(cls, value: int) -> int:
        if not 0 <= value <= MAX_WITHDRAWAL_DAYS:
            raise ValueError(startup_text("retention_withdrawal", value=value, limit=MAX_WITHDRAWAL_DAYS))
        return value


class CodesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    protect_content: bool = True
    column_aliases: dict[str, list[str]] = Field(default_factory=dict)


class QuestionSettings(BaseModel):
    """[questions]: when a question nobody has answered is raised, in the school's working hours
    (a question asked on Friday evening waits from Monday morning)."""

    model_config = ConfigDict(extra="forbid")
    # In the IT officer's daily list of unanswered questions after this many working hours.
    digest_after_hours: int = Field(default=8, ge=1, le=400)
    # Sent to the director after this many.
    director_after_hours: int = Field(default=24, ge=1, le=800)

    @model_validator(mode="after")
    def _director_later(self) -> QuestionSettings:
        if self.director_after_hours <= self.digest_after_hours:
            raise ValueError(startup_text("questions_order", digest=self.digest_after_hours,
                                          director=self.director_after_hours))
        return self


class SchoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    school: SchoolInfo
    hours: Hours = Field(default_factory=Hours)
    school_year: SchoolYear
    platform: Platform = Field(default_factory=Platform)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    codes: CodesSettings = Field(default_factory=CodesSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    questions: QuestionSettings = Field(default_factory=QuestionSettings)
    # [channels]: who runs the school and which data classes each messenger may carry (bot/channels.py);
    # absent: a state or municipal school's rules (Telegram carries public notices only).
    channels: dict[str, list[str] | str] | None = None

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: dict[str, list[str] | str] | None) -> dict[str, list[str] | str] | None:
        try:
            parse_channels(value)
        except ChannelPolicyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def channel_policy(self) -> ChannelPolicy:
        return parse_channels(self.channels)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.school.timezone)

    @property
    def calendar(self) -> SchoolCalendar:
        """The school calendar as it stands now (a year override moves it, see below)."""
        h = self.hours
        return SchoolCalendar(
            tz=self.tz, work_start=h.work_start, work_end=h.work_end,
            working_days=frozenset(d - 1 for d in h.working_days),  # config is ISO (1=Monday)
            quiet_start=h.quiet_start, quiet_end=h.quiet_end, holidays=tuple(h.holidays),
            year=self.school_year.year,
            quarters=tuple(Quarter(i, q.start, q.end) for i, q in enumerate(self.school_year.quarters, start=1)),
        )


def apply_year_override(
    school: SchoolConfig, year: int, quarters: list[tuple[date, date]], holidays: list[date]
) -> bool:
    """Move the school's calendar to a later school year recorded by `schoolbot new-year`.

    In place, so every holder of the config (dispatcher data, services) sees the new year. The
    operator's school.toml is never rewritten: an override only applies while its year is later than
    the file's, so editing school.toml to the new year (or a later one) takes precedence again.
    """
    if year <= school.school_year.year:
        return False
    school.school_year = SchoolYear(year=year, quarters=[QuarterSpec(start=a, end=b) for a, b in quarters])
    school.hours.holidays = list(holidays)
    return True


def load_school_config(path: Path, *, required: bool = False) -> SchoolConfig:
    """Load `path`, or the shipped example when `path` does not exist and was not asked for: a file
    SCHOOL_CONFIG names (`required`) must exist, or a typo would start the example school unseen."""
    if required and not path.exists():
        raise ConfigError(startup_text("school_missing", source=path))
    source = path if path.exists() else EXAMPLE_SCHOOL_CONFIG
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(startup_text("unreadable", source=source, detail=exc.strerror)) from None
    return parse_school_config(text, str(source))


def parse_school_config(text: str, source: str) -> SchoolConfig:
    """A school.toml's text, checked as `load_school_config` checks the file (a district keeps each
    school's settings as this text in its registry, bot/district/); `source` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(startup_text("toml", source=source, detail=exc)) from None
    try:
        return SchoolConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None
