"""All user-facing text, loaded once from `content/i18n/<lang>/<area>.toml`.

Each capability owns one file per language; a key `foo` in `tasks.toml` is used as `tasks.foo`.
A value is a string (str.format placeholders) or, for counted things, a table of plural forms:
Russian needs one/few/many (1 задача, 2 задачи, 5 задач), English one/other.

A number inside a text agrees by construction: every int passed to a text becomes a `Count`, whose
format spec names the forms, `{total:получатель|получателя|получателей}` -> "21 получатель",
`{total:ребёнка|детей|детей}` after «из» -> "из 21 ребёнка" (the forms are picked by the plural
category, so an oblique case is written with its own three forms), `{n:recipient|recipients}`.
A person agrees the same way through `bot.russian.Named` (`{name:переведён|переведена}`).
"""

from __future__ import annotations

import errno
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.paths import CONTENT_DIR

DEFAULT_LANG = "ru"
LANGUAGES = ("ru", "en")
PLURAL_FORMS = frozenset({"one", "few", "many", "other"})


class HasLang(Protocol):
    """Whoever chose a language (a Person): None means the default."""

    @property
    def lang(self) -> str | None: ...


class CatalogError(Exception):
    pass


def plural_form(lang: str, n: int) -> str:
    n = abs(n)
    if lang == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Count(int):
    """An int in a text: formats as a number, or with a "one|few|many" ("one|other" in English)
    spec as the number followed by the noun in the form the number governs."""

    lang: str

    def __new__(cls, value: int, lang: str = DEFAULT_LANG) -> Count:
        made = super().__new__(cls, value)
        made.lang = lang
        return made

    def __format__(self, spec: str) -> str:
        if "|" not in spec:
            return int.__format__(int(self), spec)
        forms = spec.split("|")
        wanted = ("one", "few", "many") if len(forms) == 3 else ("one", "other")
        if len(forms) not in (2, 3):
            raise ValueError(f"counted forms need 'one|few|many' or 'one|other', got {spec!r}")
        form = plural_form(self.lang if len(forms) == 3 else "en", int(self))
        # Thousands grouped the way each language prints them: 10 000 строк, 10,000 rows.
        number = f"{int(self):,}".replace(",", "\u00a0" if len(forms) == 3 else ",")
        return f"{number} {forms[wanted.index(form)]}"


def counted(lang: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The params with every plain int made a `Count` in the text's language."""
    return {k: Count(v, lang) if type(v) is int else v for k, v in params.items()}


def pick_lang(code: str | None) -> str:
    """Telegram's language_code ('ru', 'en-US', 'uk', None) -> a language we speak."""
    if code:
        base = code.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANG


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str | dict[str, str]], source: Path) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}"
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and value and set(value) <= PLURAL_FORMS:
            out[key] = {k: str(v) for k, v in value.items()}
        elif isinstance(value, dict):
            _flatten(key, value, out, source)
        else:
            raise CatalogError(f"{source}: {key}: expected text or a table, got {type(value).__name__}")


class Catalog:
    def __init__(self, entries: dict[str, dict[str, str | dict[str, str]]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        root = directory or CONTENT_DIR / "i18n"
        entries: dict[str, dict[str, str | dict[str, str]]] = {}
        for lang in LANGUAGES:
            flat: dict[str, str | dict[str, str]] = {}
            for path in sorted((root / lang).glob("*.toml")):
                try:
                    data = tomllib.loads(path.read_text(encoding="utf-8"))
                except tomllib.TOMLDecodeError as exc:
                    raise CatalogError(f"{path}: {exc}") from None
                _flatten(path.stem, data, flat, path)
            entries[lang] = flat
        return cls(entries)

    def keys(self, lang: str) -> set[str]:
        return set(self._entries.get(lang, {}))

    def _raw(self, lang: str, key: str) -> str | dict[str, str]:
        for candidate in (lang, DEFAULT_LANG):
            value = self._entries.get(candidate, {}).get(key)
            if value is not None:
                return value
        raise KeyError(f"no text for {key!r}")

    def text(self, lang: str, key: str, /, **params: Any) -> str:
        value = self._raw(lang, key)
        if isinstance(value, dict):
            raise KeyError(f"{key!r} has plural forms: use plural()")
        return value.format(**counted(lang, params)) if params else value

    def plural(self, lang: str, key: str, n: int, /, **params: Any) -> str:
        value = self._raw(lang, key)
        if isinstance(value, str):
            return value.format(**counted(lang, {"n": n, **params}))
        form = plural_form(lang, n)
        template = value.get(form) or value.get("other") or value.get("many") or next(iter(value.values()))
        return template.format(**counted(lang, {"n": n, **params}))

    def translator_for(self, person: HasLang) -> Translator:
        """The catalog in the language a person chose (Russian unless they chose otherwise)."""
        return self.bind(person.lang or DEFAULT_LANG)

    def bind(self, lang: str) -> Translator:
        return Translator(self, lang if lang in LANGUAGES else DEFAULT_LANG)


@dataclass(frozen=True)
class Translator:
    """The catalog bound to one user's language; handlers receive it as `t`."""

    catalog: Catalog
    lang: str

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.catalog.text(self.lang, key, **params)

    def plural(self, key: str, n: int, /, **params: Any) -> str:
        return self.catalog.plural(self.lang, key, n, **params)

    def os_error(self, exc: OSError) -> str:
        """Why a file could not be read or written, in the reader's language: the system's own text
        (exc.strerror) is English whatever the locale ("No such file or directory")."""
        name = errno.errorcode.get(exc.errno or 0, "")
        key = f"oserror.{name}"
        if name and key in self.catalog.keys(self.lang):
            return self(key)
        return self("oserror.other", detail=exc.strerror or type(exc).__name__)
