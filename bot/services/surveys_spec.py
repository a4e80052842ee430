"""Reading a survey from a file (TOML, or an XLSX/CSV table) and the shipped templates
(content/surveys/*.toml). Every problem is reported with its line and field, all of them at once,
and a file with any problem makes no survey (nothing half-written).

TOML::

    title = "ИКТ-компетентность сотрудников"
    plan_item = "1.1"            # optional: the plan item it serves
    anonymous = false            # optional
    about_family = false         # optional: a survey about a child or a family (personal data)
    audience = "role:staff"      # optional suggestion: role:<role>|staff, class:<class>, parents:<class>|*
    intro = "..."                # optional

    [[questions]]
    kind = "scale"               # single | multi | scale | number | text
    text = "Оцените, насколько уверенно вы работаете с компьютером"
    options = ["...", "..."]     # single and multi only, 2-10
    key = "competence"           # optional, read by the analysis
    optional = false             # optional

A table: columns «Тип», «Вопрос», «Варианты» (separated by «;»), optionally «Ключ»; a row of type
«заголовок» gives the title (else the file's name does).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bot.domain.access import ALL_ROLES
from bot.domain.surveys import (
    KINDS,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_QUESTIONS,
    MAX_TITLE,
    MIN_OPTIONS,
    AudienceKind,
    Kind,
    Question,
    SurveySpec,
)
from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.services.people_text import normalize_class
from bot.services.tabular import TableError, read_table

TEMPLATES_DIR = CONTENT_DIR / "surveys"
MAX_FILE = 200_000

_KIND_WORDS: dict[str, Kind] = {
    "single": "single", "один": "single", "один вариант": "single", "выбор": "single", "одиночный выбор": "single",
    "multi": "multi", "несколько": "multi", "несколько вариантов": "multi", "множественный выбор": "multi",
    "scale": "scale", "шкала": "scale", "шкала 1-5": "scale", "оценка": "scale",
    "number": "number", "число": "number",
    "text": "text", "текст": "text", "короткий текст": "text",
}
_TITLE_WORDS = {"заголовок", "название", "title"}
_ALIASES = {
    "kind": ["Тип", "Вид"],
    "text": ["Вопрос", "Текст вопроса"],
    "options": ["Варианты", "Варианты ответа"],
    "key": ["Ключ"],
}
_TOP_FIELDS = {"title", "plan_item", "anonymous", "about_family", "audience", "intro", "questions"}
_QUESTION_FIELDS = {"kind", "text", "options", "key", "optional", "attention"}
_KEY_RE = re.compile(r"^[a-z_]{1,30}$")


@dataclass(frozen=True)
class SpecError:
    """One problem: `line` in the file (0: the file as a whole), `field` as the file names it, a
    catalog key and its parameters."""

    line: int
    field_name: str
    key: str
    params: dict[str, str | int] = field(default_factory=dict)


class SpecInvalid(Exception):
    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def parse_audience(value: str) -> tuple[AudienceKind, str] | None:
    """ "role:staff", "role:teacher", "class:5А", "parents:5А", "parents:*" -> (kind, value) or None."""
    kind, _, rest = value.strip().partition(":")
    rest = rest.strip()
    if kind == "role" and (rest == "staff" or rest in ALL_ROLES):
        return "role", rest
    if kind in ("class", "parents"):
        if kind == "parents" and rest == "*":
            return "parents", "*"
        label = normalize_class(rest)
        if label is not None:
            return cast(AudienceKind, kind), label
    return None


def _question_lines(text: str) -> list[int]:
    """The line of each `[[questions]]` header, so an error names where its question starts."""
    return [i for i, line in enumerate(text.splitlines(), start=1) if line.strip().startswith("[[questions]]")]


def _key_line(text: str, key: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i
    return 0


def _check_question(
    raw: Any, line: int, errors: list[SpecError], *, kind_field: str = "kind", text_field: str = "text",
    options_field: str = "options",
) -> Question | None:
    if not isinstance(raw, dict):
        errors.append(SpecError(line, "questions", "surveys.error.not_table"))
        return None
    before = len(errors)
    for unknown in sorted(set(raw) - _QUESTION_FIELDS):
        errors.append(SpecError(line, unknown, "surveys.error.unknown_field"))
    kind_raw = str(raw.get("kind", "")).strip().lower().replace("ё", "е")
    kind = _KIND_WORDS.get(kind_raw)
    if kind is None:
        errors.append(SpecError(line, kind_field, "surveys.error.kind", {"value": kind_raw,
                                                                          "kinds": ", ".join(KINDS)}))
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(SpecError(line, text_field, "surveys.error.text_missing"))
        text = ""
    elif len(text.strip()) > MAX_QUESTION:
        errors.append(SpecError(line, text_field, "surveys.error.text_long", {"limit": MAX_QUESTION}))
    options_raw = raw.get("options", [])
    if not isinstance(options_raw, list) or not all(isinstance(o, str) for o in options_raw):
        errors.append(SpecError(line, options_field, "surveys.error.options_type"))
        options_raw = []
    options = tuple(" ".join(o.split()) for o in options_raw if o.strip())
    if kind in ("single", "multi") and not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        errors.append(SpecError(line, options_field, "surveys.error.options_count",
                                {"min": MIN_OPTIONS, "max": MAX_OPTIONS, "n": len(options)}))
    if kind in ("scale", "number", "text") and options:
        errors.append(SpecError(line, options_field, "surveys.error.options_unexpected"))
    for option in options:
        if len(option) > MAX_OPTION:
            errors.append(SpecError(line, options_field, "surveys.error.option_long",
                                    {"value": option[:30], "limit": MAX_OPTION}))
    if len(set(options)) != len(options):
        errors.append(SpecError(line, options_field, "surveys.error.options_repeat"))
    key = str(raw.get("key", "")).strip()
    if key and not _KEY_RE.match(key):
        errors.append(SpecError(line, "key", "surveys.error.key", {"value": key[:30]}))
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        errors.append(SpecError(line, "optional", "surveys.error.bool"))
        optional = False
    attention = raw.get("attention", [])
    choices = len(options) if kind in ("single", "multi") else (5 if kind == "scale" else 0)
    if not isinstance(attention, list) or not all(isinstance(a, int) and 0 <= a < choices for a in attention):
        errors.append(SpecError(line, "attention", "surveys.error.attention", {"n": str(choices)}))
        attention = []
    if len(errors) > before or kind is None:
        return None
    return Question(kind, " ".join(text.split()), options if kind in ("single", "multi") else (), key, optional,
                    tuple(attention))


def _check_title(title: Any, line: int, field_name: str, errors: list[SpecError]) -> str:
    if not isinstance(title, str) or not title.strip():
        errors.append(SpecError(line, field_name, "surveys.error.title_missing"))
        return ""
    if len(title.strip()) > MAX_TITLE:
        errors.append(SpecError(line, field_name, "surveys.error.title_long", {"limit": MAX_TITLE}))
    return " ".join(title.split())


def _finish(title: str, questions: list[Question], errors: list[SpecError], **rest: Any) -> SurveySpec:
    if not questions and not errors:
        errors.append(SpecError(0, "questions", "surveys.error.no_questions"))
    if len(questions) > MAX_QUESTIONS:
        errors.append(SpecError(0, "questions", "surveys.error.too_many", {"limit": MAX_QUESTIONS}))
    if errors:
        raise SpecInvalid(errors)
    return SurveySpec(title=title, questions=tuple(questions), **rest)


def parse_toml(text: str, *, name: str | None = None) -> SurveySpec:
    """A survey from TOML text; raises SpecInvalid listing every problem with its line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SpecInvalid([SpecError(int(match.group(1)) if match else 0, "", "surveys.error.toml",
                                     {"detail": str(exc)})]) from None
    errors: list[SpecError] = []
    for unknown in sorted(set(data) - _TOP_FIELDS):
        errors.append(SpecError(_key_line(text, unknown), unknown, "surveys.error.unknown_field"))
    title = _check_title(data.get("title"), _key_line(text, "title"), "title", errors)
    plan_item = data.get("plan_item")
    if plan_item is not None and (not isinstance(plan_item, str) or not re.match(r"^\d{1,2}(\.\d)?$", plan_item)):
        errors.append(SpecError(_key_line(text, "plan_item"), "plan_item", "surveys.error.plan_item",
                                {"value": str(plan_item)[:20]}))
        plan_item = None
    flags: dict[str, bool] = {}
    for flag in ("anonymous", "about_family"):
        value = data.get(flag, False)
        if not isinstance(value, bool):
            errors.append(SpecError(_key_line(text, flag), flag, "surveys.error.bool"))
            value = False
        flags[flag] = value
    audience = None
    if "audience" in data:
        audience = parse_audience(str(data["audience"]))
        if audience is None:
            errors.append(SpecError(_key_line(text, "audience"), "audience", "surveys.error.audience",
                                    {"value": str(data["audience"])[:40]}))
    intro = data.get("intro", "")
    if not isinstance(intro, str) or len(intro) > 1000:
        errors.append(SpecError(_key_line(text, "intro"), "intro", "surveys.error.intro"))
        intro = ""
    raw_questions = data.get("questions", [])
    if not isinstance(raw_questions, list):
        errors.append(SpecError(_key_line(text, "questions"), "questions", "surveys.error.not_table"))
        raw_questions = []
    lines = _question_lines(text)
    questions = []
    for i, raw in enumerate(raw_questions):
        q = _check_question(raw, lines[i] if i < len(lines) else 0, errors)
        if q is not None:
            questions.append(q)
    return _finish(title, questions, errors, intro=intro.strip(), plan_item=plan_item, anonymous=flags["anonymous"],
                   about_family=flags["about_family"], audience=audience, name=name)


def parse_table(data: bytes, filename: str) -> SurveySpec:
    """A survey from an XLSX (or CSV) table: one question a row."""
    try:
        rows = read_table(data, filename, _ALIASES, ("kind", "text"))
    except TableError as exc:
        raise SpecInvalid([SpecError(exc.line, "", f"import_errors.{exc.catalog_code}", dict(exc.params))]) from None
    errors: list[SpecError] = []
    title = ""
    questions: list[Question] = []
    for row in rows:
        v = row.values
        if not any(v.values()):
            continue
        if v.get("kind", "").strip().lower() in _TITLE_WORDS:
            title = _check_title(v.get("text", ""), row.line, "Вопрос", errors)
            continue
        options = [o for o in re.split(r"[;\n]", v.get("options", "")) if o.strip()]
        raw = {"kind": v.get("kind", ""), "text": v.get("text", ""), "options": options}
        if v.get("key"):
            raw["key"] = v["key"]
        q = _check_question(raw, row.line, errors, kind_field="Тип", text_field="Вопрос", options_field="Варианты")
        if q is not None:
            questions.append(q)
    if not title:
        title = _check_title(Path(filename).stem.replace("_", " "), 0, "Вопрос", errors)
    return _finish(title, questions, errors)


def parse_file(data: bytes, filename: str) -> SurveySpec:
    if len(data) > MAX_FILE:
        raise SpecInvalid([SpecError(0, "", "surveys.error.too_big", {"limit": str(MAX_FILE // 1000)})])
    if filename.lower().endswith(".toml"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecInvalid([SpecError(0, "", "surveys.error.encoding")]) from None
        return parse_toml(text)
    if filename.lower().endswith((".xlsx", ".csv")):
        return parse_table(data, filename)
    raise SpecInvalid([SpecError(0, "", "surveys.error.file_kind")])


def load_templates(directory: Path = TEMPLATES_DIR) -> dict[str, SurveySpec]:
    """The shipped templates by name (file stem), in name order. A broken one is a bug: it raises."""
    found: dict[str, SurveySpec] = {}
    for path in sorted(directory.glob("*.toml")):
        found[path.stem] = parse_toml(path.read_text(encoding="utf-8"), name=path.stem)
    return found


def render_errors(errors: list[SpecError], t: Translator) -> list[str]:
    """One Russian (or English) line per problem, naming its line and field."""
    out = []
    for e in errors:
        message = t(e.key, **e.params)
        if e.line and e.field_name:
            out.append(t("surveys.error.line", line=e.line, field=e.field_name, message=message))
        elif e.line:
            out.append(t("import_errors.line", line=e.line, message=message))
        elif e.field_name:
            out.append(t("surveys.error.field", field=e.field_name, message=message))
        else:
            out.append(t("surveys.error.whole", message=message))
    return out
