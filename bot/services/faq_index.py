"""The FAQ's search machinery: tokens, stems and stop words, typo and prefix matching, the index."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import snowballstemmer

DEFAULT_LANG = "ru"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TAG_RE = re.compile(r"<[^>]*>")
_AMP_RE = re.compile(r"&(?!(?:amp|lt|gt|quot);)")
_WORD_RE = re.compile(r"[0-9a-zа-я]+")
_ENTRY_FIELDS = ("id", "category", "audience", "question", "answer", "keywords")

# Field weights: a question or keyword hit says far more about intent than a word buried in an answer.
_W_QUESTION = 3.0
_W_KEYWORDS = 3.0
_W_ANSWER = 1.0
_K1 = 1.2
_B = 0.75
# A query must be explained by the entry at least this much (share of the query's idf mass).
_MIN_COVERAGE = 0.3
# An unknown query word is either off-topic (a sign the FAQ has no answer) or filler the stop list
# missed ("получается"); it counts against coverage, but less than the rarest known word.
_UNKNOWN_MASS = 0.5
# Results far below the best are noise, not alternatives.
_MIN_RELATIVE_SCORE = 0.3
# Fuzzy matches count less than exact stems.
_PREFIX_FACTOR = 0.8
_TYPO_FACTOR = 0.7
_MIN_FUZZY_LEN = 4

def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP_WORDS: dict[str, frozenset[str]] = {
    "ru": _word_set(
        """
        и в во на ни с со к ко у о об обо от до по за из изо для а но или же ли бы то это этот эта эти
        этого я мы вы ты он она оно они мне меня мной мой моя мое мои моего моей моему моих наш наша наши
        ваш ваша ваши вас нам нас вам его ее их им ему ей как где что чтобы куда какой какая какое какие
        каким каких там тут здесь есть быть был была было были если так уже еще только все весь вся всех
        можно нужно надо пожалуйста подскажите скажите почему зачем при через над под сам сама себе свой
        своего своему свои своих когда ну вот да нет либо тоже также очень просто делать сделать смотреть
        посмотреть
        """
    ),
    "en": _word_set(
        """
        a an the i me my mine we our us you your he she it its they them their to of in on at for from by
        with is are was were be been am do does did how what where which whom why can could should
        would will shall may might must and or but if so this that these those there here please any
        some not no yes just also very get got have has had than then
        """
    ),
}

class _Analyzer:
    """Tokenize, drop stop words, stem. Snowball stemmer objects keep state between calls, so
    stemming happens under a lock (queries are short; contention is negligible)."""

    def __init__(self, lang: str) -> None:
        # Russian users type Latin words too (qr, android, esia) and English users may paste Russian:
        # each script goes to the stemmer of its own language.
        self._cyrillic = snowballstemmer.stemmer("russian")
        self._latin = snowballstemmer.stemmer("english")
        self._stop = _STOP_WORDS.get(lang, _STOP_WORDS[DEFAULT_LANG])
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}

    @staticmethod
    def words(text: str) -> list[str]:
        text = _TAG_RE.sub(" ", text).lower().replace("ё", "е")
        return _WORD_RE.findall(text)

    def _stem(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        stemmer = self._cyrillic if "а" <= word[0] <= "я" else self._latin
        with self._lock:
            stem: str = stemmer.stemWord(word)
            if len(self._cache) < 50_000:
                self._cache[word] = stem
        return stem

    def terms(self, text: str) -> list[str]:
        return [self._stem(w) for w in self.words(text) if w not in self._stop]


def _keyboard_neighbours() -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for rows in (("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"), ("qwertyuiop", "asdfghjkl", "zxcvbnm")):
        for r, row in enumerate(rows):
            for c, key in enumerate(row):
                near = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
                for nr, nc in near:
                    if 0 <= nr < len(rows) and 0 <= nc < len(rows[nr]):
                        pairs.add((key, rows[nr][nc]))
    # Spelling slips by ear, not by finger: unstressed vowels and look-alike letters.
    for a, b in ("ао", "еи", "ий", "шщ", "ьъ", "еэ"):
        pairs.add((a, b))
    return frozenset(pairs | {(b, a) for a, b in pairs})


# A substitution counts as a typo only between neighbouring keys or letters people confuse, so
# "пвроль" finds "пароль" but "привет" does not find "придет".
_NEAR = _keyboard_neighbours()


def _one_typo_apart(a: str, b: str) -> bool:
    """True when a and b differ by one insertion, deletion, adjacent transposition, or substitution
    of a near letter."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return (a[i], b[i]) in _NEAR
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la < lb:
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i:]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class _Index:
    postings: Mapping[str, tuple[tuple[int, float], ...]]  # term -> (doc, weighted tf)
    idf: Mapping[str, float]
    doc_len: tuple[float, ...]
    avg_len: float
    max_idf: float
    fuzzy_cache: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
