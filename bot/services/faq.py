"""FAQ content per language and audience, with a small full-text search.

The FAQ ships as TOML (`content/faq/<lang>.toml`). A `Faq` is an immutable snapshot of one language
with its search index computed at load time; a `FaqLibrary` holds every language and swaps all of
them at once on `reload()`, so the IT officer can fix a typo in an answer without a restart and a
broken edit never replaces working content.

Search is BM25F-like over three fields (question and keywords weigh more than the answer) on
Snowball stems. Queries come from phones: lowercase, no punctuation, occasional typos, so a query
stem that is not in the vocabulary may still match a close stem (a shared prefix, or one typo away
where a substitution must be a neighbouring key) at a discount. A result must explain enough of the
query (its idf mass), so an off-topic question gets no answer rather than a random one.
"""

from __future__ import annotations

import math
import threading
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.services.faq_index import (
    _AMP_RE,
    _B,
    _ENTRY_FIELDS,
    _ID_RE,
    _K1,
    _MIN_COVERAGE,
    _MIN_FUZZY_LEN,
    _MIN_RELATIVE_SCORE,
    _PREFIX_FACTOR,
    _TAG_RE,
    _TYPO_FACTOR,
    _UNKNOWN_MASS,
    _W_ANSWER,
    _W_KEYWORDS,
    _W_QUESTION,
    DEFAULT_LANG,
    _Analyzer,
    _common_prefix,
    _Index,
    _one_typo_apart,
)
from bot.services.toml_place import entry_line, section_line, syntax_place, top_line

if TYPE_CHECKING:
    from bot.i18n import Translator

Audience = Literal["teacher", "pupil", "parent", "all"]
AUDIENCES: frozenset[str] = frozenset({"teacher", "pupil", "parent", "all"})


class FaqError(ValueError):
    """Bad FAQ content. `code` is a key of the `faq_file` catalog table and `params` fill its
    placeholders, so the school reads the problem in its own language (:func:`faq_error_text`);
    `path` is the file, `entry` the [[entry]] counted from 1 (0: not in an entry), `field` the field
    as written in the file, `line` the line of the problem (0: the file as a whole)."""

    def __init__(
        self, code: str, *, path: Path | str, entry: int = 0, field: str = "", line: int = 0, **params: str | int
    ) -> None:
        super().__init__(code, str(path), params)
        self.code = code
        self.path = str(path)
        self.entry = entry
        self.field = field
        self.line = line
        self.params = params

    def __str__(self) -> str:
        # For logs and tracebacks; people read faq_error_text().
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.code} {self.params}"


def faq_error_text(exc: FaqError, t: Translator) -> str:
    """The problem as the school reads it: the file, the line and what is wrong there."""
    message = t(f"faq_file.{exc.code}", **exc.params)
    if exc.line:
        return t("faq_file.at_line", file=exc.path, line=exc.line, message=message)
    return t("faq_file.in_file", file=exc.path, message=message)


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    audience: tuple[str, ...]
    question: str
    answer: str
    keywords: tuple[str, ...]
    # Made from a question before an IT officer checked it for personal data (faq_extra, migration
    # 032): screens showing it carry personal data, kept off channels that may not carry it.
    personal: bool = False

    def visible_to(self, audiences: Collection[str]) -> bool:
        # "all" entries are for everyone, whatever the caller passes.
        return "all" in self.audience or any(a in audiences for a in self.audience)


@dataclass(frozen=True)
class FaqCategory:
    id: str
    title: str


class Faq:
    """Immutable FAQ snapshot for one language."""

    def __init__(
        self, lang: str, categories: Iterable[FaqCategory], entries: Iterable[FaqEntry], source: str = ""
    ) -> None:
        self.lang = lang
        self.source = source
        self._categories = tuple(categories)
        self._entries = tuple(entries)
        self._by_id = {e.id: e for e in self._entries}
        self._category_by_id = {c.id: c for c in self._categories}
        self._analyzer = _Analyzer(lang)

    @cached_property
    def _index(self) -> _Index:
        # Built at the first search, not at load: stemming every entry takes a few tenths of a
        # second, which a command that never searches (`schoolbot backup`) need not pay. A load
        # still checks every entry; two threads racing here build the same index twice, harmlessly.
        return self._build_index()

    # --- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, lang: str | None = None) -> Faq:
        lang = lang or path.stem
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FaqError("unreadable", path=path) from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise FaqError("encoding", path=path, line=line, byte=f"0x{data[exc.start]:02X}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib's English wording is dropped; its place is kept.
            line, column = syntax_place(exc, text)
            if column:
                raise FaqError("toml", path=path, line=line, column=column) from None
            raise FaqError("toml_end", path=path, line=line) from None
        try:
            return cls._from_mapping(raw, path, lang)
        except FaqError as exc:
            if not exc.line:
                exc.line = _line_of(text.splitlines(), exc)
            if "other_entry" in exc.params:
                other = exc.params.pop("other_entry")
                assert isinstance(other, int)
                exc.params["other"] = entry_line(text.splitlines(), "entry", other, "id")
            raise

    @classmethod
    def _from_mapping(cls, raw: Mapping[str, Any], path: Path, lang: str) -> Faq:
        unknown = sorted(set(raw) - {"categories", "entry"})
        if unknown:
            raise FaqError("top_unknown", path=path, field=unknown[0], fields=", ".join(unknown))
        cats_raw = raw.get("categories")
        if not isinstance(cats_raw, dict) or not cats_raw:
            raise FaqError("categories_missing", path=path, field="categories")
        categories: list[FaqCategory] = []
        for cid, title in cats_raw.items():
            if not _ID_RE.match(cid):
                raise FaqError("category_id", path=path, field=f"categories.{cid}", value=cid)
            if not isinstance(title, str) or not title.strip():
                raise FaqError("category_title", path=path, field=f"categories.{cid}", value=cid)
            categories.append(FaqCategory(cid, title.strip()))
        cat_ids = {c.id for c in categories}

        entries_raw = raw.get("entry")
        if not isinstance(entries_raw, list) or not entries_raw:
            raise FaqError("no_entries", path=path)
        entries: list[FaqEntry] = []
        seen: dict[str, int] = {}
        for number, item in enumerate(entries_raw, start=1):
            entry = _parse_entry(item, path, number, cat_ids)
            if entry.id in seen:
                raise FaqError(
                    "duplicate_id", path=path, entry=number, field="id", n=number, value=entry.id,
                    other_entry=seen[entry.id],
                )
            seen[entry.id] = number
            entries.append(entry)
        return cls(lang, categories, entries, source=str(path))

    # --- browsing -----------------------------------------------------------------------------

    def categories(self, audiences: Collection[str]) -> list[FaqCategory]:
        visible = {e.category for e in self._entries if e.visible_to(audiences)}
        return [c for c in self._categories if c.id in visible]

    def all_categories(self) -> list[FaqCategory]:
        return list(self._categories)

    def category(self, category_id: str) -> FaqCategory | None:
        return self._category_by_id.get(category_id)

    def entries(self, category: str, audiences: Collection[str]) -> list[FaqEntry]:
        return [e for e in self._entries if e.category == category and e.visible_to(audiences)]

    def all_entries(self) -> list[FaqEntry]:
        return list(self._entries)

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    def __len__(self) -> int:
        return len(self._entries)

    # --- search -------------------------------------------------------------------------------

    def _build_index(self) -> _Index:
        per_doc: list[dict[str, float]] = []
        lengths: list[float] = []
        for e in self._entries:
            tf: dict[str, float] = {}
            length = 0.0
            for text, weight in (
                (e.question, _W_QUESTION),
                (" ".join(e.keywords), _W_KEYWORDS),
                (e.answer, _W_ANSWER),
            ):
                for term in self._analyzer.terms(text):
                    tf[term] = tf.get(term, 0.0) + weight
                    length += weight
            per_doc.append(tf)
            lengths.append(length)
        postings: dict[str, list[tuple[int, float]]] = {}
        for doc, tf in enumerate(per_doc):
            for term, weight in tf.items():
                postings.setdefault(term, []).append((doc, weight))
        n = len(self._entries)
        idf = {t: math.log(1.0 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()}
        max_idf = math.log(1.0 + (n + 0.5) / 0.5)
        return _Index(
            postings={t: tuple(p) for t, p in postings.items()},
            idf=idf,
            doc_len=tuple(lengths),
            avg_len=(sum(lengths) / n) if n else 1.0,
            max_idf=max_idf,
        )

    def _expand(self, term: str) -> tuple[tuple[str, float], ...]:
        """Vocabulary terms a query term stands for, with a match factor (1.0 for an exact stem)."""
        index = self._index
        if term in index.postings:
            return ((term, 1.0),)
        cached = index.fuzzy_cache.get(term)
        if cached is not None:
            return cached
        found: list[tuple[str, float]] = []
        if len(term) >= _MIN_FUZZY_LEN:
            for vocab in index.postings:
                if len(vocab) < _MIN_FUZZY_LEN:
                    continue
                shorter = min(len(term), len(vocab))
                prefix = _common_prefix(term, vocab)
                # Stems that differ only in a tail (ребенк/ребенок, a truncated word) or by one typo.
                if prefix >= 5 and prefix >= shorter - 1:
                    found.append((vocab, _PREFIX_FACTOR))
                elif len(term) >= 5 and _one_typo_apart(term, vocab):
                    found.append((vocab, _TYPO_FACTOR))
        result = tuple(found)
        if len(index.fuzzy_cache) < 10_000:
            index.fuzzy_cache[term] = result
        return result

    def explain(self, query: str, audiences: Collection[str]) -> list[tuple[FaqEntry, float, float]]:
        """Every visible entry matching any query term as (entry, score, coverage), best first.

        Coverage is the share of the query's idf mass the entry explains; `search` cuts on it.
        Exposed for tests and for tuning the content, not for handlers.
        """
        index = self._index
        terms = list(dict.fromkeys(self._analyzer.terms(query)))
        if not terms:
            return []
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        total_mass = 0.0
        for term in terms:
            expansions = self._expand(term)
            mass = max((index.idf[v] for v, _ in expansions), default=index.max_idf * _UNKNOWN_MASS)
            total_mass += mass
            best: dict[int, tuple[float, float]] = {}
            for vocab, factor in expansions:
                idf = index.idf[vocab] * factor
                for doc, wtf in index.postings[vocab]:
                    norm = _K1 * (1.0 - _B + _B * index.doc_len[doc] / index.avg_len)
                    contribution = idf * wtf * (_K1 + 1.0) / (wtf + norm)
                    if contribution > best.get(doc, (0.0, 0.0))[0]:
                        best[doc] = (contribution, factor)
            for doc, (contribution, factor) in best.items():
                scores[doc] = scores.get(doc, 0.0) + contribution
                # A guessed (fuzzy) match explains the word only partly.
                covered[doc] = covered.get(doc, 0.0) + mass * factor
        ranked = sorted(
            (
                (self._entries[doc], score, covered[doc] / total_mass)
                for doc, score in scores.items()
                if self._entries[doc].visible_to(audiences)
            ),
            key=lambda item: -item[1],
        )
        return ranked

    def search(self, query: str, audiences: Collection[str], limit: int = 3) -> list[FaqEntry]:
        """Up to `limit` entries, best first; [] when no entry explains enough of the query."""
        if limit <= 0:
            return []
        ranked = [item for item in self.explain(query, audiences) if item[2] >= _MIN_COVERAGE]
        if not ranked:
            return []
        top = ranked[0][1]
        return [entry for entry, score, _ in ranked[:limit] if score >= top * _MIN_RELATIVE_SCORE]


def _line_of(lines: list[str], exc: FaqError) -> int:
    """The line of the problem: the field's own line, else the entry's id line (or [[entry]] line);
    a category's line in [categories]; 0 when the problem is the file as a whole."""
    if exc.entry:
        return entry_line(lines, "entry", exc.entry, exc.field, fallback="id")
    section, _, key = exc.field.partition(".")
    if section == "categories":
        return section_line(lines, "categories", key)
    return top_line(lines, exc.field) if exc.field else 0


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"«{name}»" for name in names)


def _parse_entry(item: Any, path: Path, number: int, cat_ids: set[str]) -> FaqEntry:
    if not isinstance(item, dict):
        raise FaqError("entry_not_table", path=path, entry=number, n=number)

    def fail(field_name: str, code: str, **params: str | int) -> FaqError:
        error = FaqError(code, path=path, entry=number, field=field_name, n=number)
        error.params.update(params)
        return error

    unknown = sorted(set(item) - set(_ENTRY_FIELDS))
    if unknown:
        raise fail(unknown[0], "unknown_field", value=unknown[0], known=_quoted(_ENTRY_FIELDS))
    for name in _ENTRY_FIELDS:
        if name not in item:
            raise fail(name, f"{name}_missing")

    raw_id = item["id"]
    if not isinstance(raw_id, str) or not _ID_RE.match(raw_id):
        raise fail("id", "id", value=str(raw_id))
    category = item["category"]
    if not isinstance(category, str) or category not in cat_ids:
        raise fail("category", "category", value=str(category), known=_quoted(sorted(cat_ids)))
    audience = item["audience"]
    if (
        not isinstance(audience, list)
        or not audience
        or not all(isinstance(a, str) and a in AUDIENCES for a in audience)
    ):
        raise fail("audience", "audience", known=_quoted(sorted(AUDIENCES)))
    question = item["question"]
    if not isinstance(question, str) or not question.strip():
        raise fail("question", "question_empty")
    if "<" in question or ">" in question:
        raise fail("question", "question_markup")
    answer = item["answer"]
    if not isinstance(answer, str) or not answer.strip():
        raise fail("answer", "answer_empty")
    _check_answer_markup(answer, fail)
    keywords = item["keywords"]
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise fail("keywords", "keywords")
    return FaqEntry(
        id=raw_id,
        category=category,
        audience=tuple(dict.fromkeys(audience)),
        question=question.strip(),
        answer=answer.strip(),
        keywords=tuple(k.strip() for k in keywords),
    )


def _check_answer_markup(answer: str, fail: Callable[..., FaqError]) -> None:
    # Answers are sent with Telegram HTML parse mode: anything but balanced <b> would be rejected
    # by Telegram at send time, so it is rejected here, at load time, where the file is named.
    depth = 0
    for tag in _TAG_RE.findall(answer):
        if tag == "<b>":
            depth += 1
        elif tag == "</b>":
            depth -= 1
            if depth < 0:
                raise fail("answer", "answer_close")
        else:
            raise fail("answer", "answer_tag", value=tag)
    if depth:
        raise fail("answer", "answer_unclosed")
    stripped = _TAG_RE.sub("", answer)
    if "<" in stripped or ">" in stripped:
        raise fail("answer", "answer_angle")
    if _AMP_RE.search(answer):
        raise fail("answer", "answer_amp")


class FaqLibrary:
    """Every language's FAQ. `reload()` swaps all snapshots at once, or none."""

    def __init__(self, directory: Path, snapshots: Mapping[str, Faq]) -> None:
        self.directory = directory
        self._snapshots: Mapping[str, Faq] = dict(snapshots)
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path) -> FaqLibrary:
        return cls(directory, _load_all(directory))

    def get(self, lang: str) -> Faq:
        snapshots = self._snapshots  # one read: a concurrent reload never mixes two generations
        return snapshots.get(lang) or snapshots[DEFAULT_LANG]

    @property
    def languages(self) -> list[str]:
        return sorted(self._snapshots)

    def reload(self) -> None:
        """Re-read every file; on any error raise FaqError and keep serving the old content."""
        with self._reload_lock:
            self._snapshots = _load_all(self.directory)


def _load_all(directory: Path) -> dict[str, Faq]:
    paths = sorted(directory.glob("*.toml"))
    snapshots = {p.stem: Faq.load(p, p.stem) for p in paths}
    base_path = directory / f"{DEFAULT_LANG}.toml"
    if DEFAULT_LANG not in snapshots:
        raise FaqError("base_missing", path=base_path)
    base = snapshots[DEFAULT_LANG]
    base_ids = [e.id for e in base.all_entries()]
    base_cats = {c.id for c in base.all_categories()}
    for lang, faq in snapshots.items():
        if lang == DEFAULT_LANG:
            continue
        ids = [e.id for e in faq.all_entries()]
        missing = sorted(set(base_ids) - set(ids))
        if missing:
            raise FaqError("ids_missing", path=faq.source, base=base_path.name, ids=_quoted(missing))
        extra = sorted(set(ids) - set(base_ids))
        if extra:
            raise FaqError("ids_extra", path=faq.source, base=base_path.name, ids=_quoted(extra))
        for entry_id in base_ids:
            mine, theirs = faq.get(entry_id), base.get(entry_id)
            assert mine is not None
            assert theirs is not None
            if mine.category != theirs.category or set(mine.audience) != set(theirs.audience):
                raise FaqError("differs", path=faq.source, base=base_path.name, value=entry_id)
        missing_cats = sorted(base_cats - {c.id for c in faq.all_categories()})
        if missing_cats:
            raise FaqError("categories_differ", path=faq.source, base=base_path.name, ids=_quoted(missing_cats))
    return snapshots
