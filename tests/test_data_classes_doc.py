"""docs/data-classes.md (issue #22's closing table) is what scripts/data_classes_doc.py writes from the
handlers as registered, names every handler the running bot has, and shows pointers that say what
was withheld in general words and where to get it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from bot.app import build_dispatcher
from bot.channels import Channel, ChannelPolicy, ChannelRules, DataClass
from bot.i18n import Catalog
from bot.tg.policy import Pointers, declare, sending
from bot.tg.policy_doc import handler_rows
from tests.harness import handler_harness

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "data-classes.md"

# What each pointer names, in general words (Russian, English).
WITHHELD = {
    DataClass.PERSONAL: ("Персональные данные", "personal data"),
    DataClass.CHILD_PERSONAL: ("Сведения о ребёнке", "information about a child"),
    DataClass.CREDENTIAL: ("ссылку для входа", "sign-in links"),
    DataClass.PERSONAL_FILE: ("Файл с персональными данными", "files with personal data"),
}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("data_classes_doc", ROOT / "scripts" / "data_classes_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_what_the_script_writes(capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    assert DOC.read_text(encoding="utf-8") == script.document(), "run: python scripts/data_classes_doc.py"
    assert script.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


async def test_every_handler_of_the_running_bot_is_in_the_table(tmp_path: Path) -> None:
    catalog = Catalog.load()
    async with handler_harness(tmp_path) as h:
        running = handler_rows(build_dispatcher(h.app), catalog)
    script = _script()
    written = handler_rows(script.dispatcher(), catalog)
    # The script registers the handlers exactly as the running bot does (and the district bot's after).
    assert [row for row in written if row.router not in script.DISTRICT_ROUTERS] == running
    assert len(running) > 100
    doc = DOC.read_text(encoding="utf-8")
    missing = [
        f"{row.router}: {row.purpose} ({row.answers})" for row in running
        if f"| {row.router} | `{row.purpose}` | {row.event} | {row.answers.replace('|', chr(92) + '|')} |" not in doc
    ]
    assert missing == []
    assert all(row.data_class is not None for row in running)
    # Every row says what a Telegram user gets in both set-ups: the answer itself or a pointer.
    rows = [line for line in doc.splitlines() if re.match(r"\| [\w-]+ \| `\w+\.\w+` \|", line)]
    assert len(rows) == len(written)
    for line in rows:
        tail = line.split("|")[-3:-1]
        assert all("the answer itself" in cell or "🔒" in cell for cell in tail), line


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_pointer_names_what_was_withheld_and_leads_somewhere(lang: str) -> None:
    catalog = Catalog.load()
    rules = ChannelRules(ChannelPolicy())
    with_max = Pointers(catalog, rules)
    with_max.max_served, with_max.max_username = True, "school_bot"
    unnamed_max = Pointers(catalog, rules)
    unnamed_max.max_served = True
    alone = Pointers(catalog, rules)
    paper = ("классного руководителя", "бумажном бланке") if lang == "ru" else ("class teacher", "paper form")
    for data_class, words in WITHHELD.items():
        said = words[0] if lang == "ru" else words[1]
        text = with_max.text(lang, Channel.TELEGRAM, data_class)
        assert said in text and "Telegram" in text and "MAX: https://max.ru/school_bot" in text, text
        assert "MAX" in unnamed_max.text(lang, Channel.TELEGRAM, data_class)
        text = alone.text(lang, Channel.TELEGRAM, data_class)
        assert said in text and all(p in text for p in paper) and "MAX" not in text, text
        for pointers in (with_max, alone):
            toast = pointers.toast(lang, Channel.TELEGRAM, data_class)
            assert len(toast) <= 200 and "Telegram" in toast, toast  # a toast's limit
        assert "MAX" in with_max.toast(lang, Channel.TELEGRAM, data_class)
        assert ("классного руководителя" if lang == "ru" else "class teacher") in alone.toast(
            lang, Channel.TELEGRAM, data_class)


def test_only_a_varies_handler_declares_and_only_what_its_flag_lists() -> None:
    """The table is written from the flags: a class set at run time that no flag names would make it
    lie, so ``declare`` refuses it (the handler stops before sending anything more)."""
    with sending(DataClass.PUBLIC, "fixed.handler") as scope:  # a handler with a fixed class
        with pytest.raises(ValueError, match="fixed.handler declares personal"):
            declare(DataClass.PERSONAL)
        assert scope.data_class is DataClass.PUBLIC
    with sending(DataClass.PERSONAL, "outbox:ticket") as scope:  # an outbox row carries its own
        with pytest.raises(ValueError, match="outbox:ticket declares public"):
            declare(DataClass.PUBLIC)
    with sending(DataClass.PUBLIC, "faq.faq_entry") as scope:
        scope.may_declare = (DataClass.PUBLIC, DataClass.PERSONAL)
        declare(DataClass.PERSONAL)
        assert scope.data_class is DataClass.PERSONAL
        with pytest.raises(ValueError, match="not among its @varies classes"):
            declare(DataClass.CREDENTIAL)
        assert scope.data_class is DataClass.PERSONAL
