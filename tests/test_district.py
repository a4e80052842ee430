"""A district holds many schools, each on a store of its own (#27 item 2): the same person ids, codes
and plan items in two schools never meet; each school's consent ledger chains and verifies on its
own; a parent with children in both holds one account in each school's store; the district role
sees counts across schools and never a code or a name."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiogram.methods import SendMessage

from bot.app import build_dispatcher
from bot.channels import Channel
from bot.clock import ManualClock
from bot.district.runtime import District, build_district, build_district_dispatcher
from bot.district.schools import registry_store
from bot.i18n import Catalog
from bot.services import ledger
from bot.services.district import render_coverage
from bot.services.imports import ImportOptions
from scheduler.base import ManualScheduler
from storage.consent import ConsentRepo
from storage.district import school_store_path
from storage.pg import PgDatabase
from tests.codes_helpers import CODES, codes_csv
from tests.consent_helpers import PHONES, consent_menu
from tests.district_helpers import SCHOOLS, add_schools, built_district, district_settings
from tests.harness import DEFAULT_START, PARENT_ONE, PARENT_TWO, ROSTER_ROWS, Harness, roster_csv
from tests.ledger_helpers import decide
from tests.mocked_bot import MockedBot

ROSTER_NAMES = [row[0] for row in ROSTER_ROWS[1:]]


def harness(district: District, key: str) -> Harness:
    app = district.schools[key]
    return Harness(app, MockedBot(), build_dispatcher(app))


async def load(h: Harness) -> None:
    """Roster and codes through the school's own importers, as `schoolbot district import` runs them."""
    for kind, data in (("roster", roster_csv()), ("codes", codes_csv())):
        outcome = await h.app.importers[kind].run(data, f"{kind}.csv", ImportOptions())
        assert outcome.ok and outcome.applied, outcome.errors


async def test_two_schools_share_ids_but_never_rows(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as district:
        assert list(district.schools) == ["alpha", "beta"]
        a, b = harness(district, "alpha"), harness(district, "beta")
        for h in (a, b):
            await load(h)
            # A parent with children in both schools links in each: one account per school store.
            await h.contact(PARENT_ONE, PHONES[PARENT_ONE], PARENT_ONE)
        # The same roster gives the same person ids in both schools, the same codes, the same plan.
        ids_a = {p.full_name: p.id for p in await a.app.people.active()}
        ids_b = {p.full_name: p.id for p in await b.app.people.active()}
        assert ids_a == ids_b and set(ids_a) == set(ROSTER_NAMES)
        plan_a = [i.number for i in (await a.app.services.tasks.snapshot()).items]
        plan_b = [i.number for i in (await b.app.services.tasks.snapshot()).items]
        assert plan_a == plan_b and plan_a

        await decide(a, PARENT_ONE, "✅ Согласен: Коля")
        kolya = ids_a["Смирнов Коля Олегович"]
        # The consent given in A is nowhere in B: B's ledger is empty, and B's /consent still offers
        # the parent both answers for Коля (the pending screen), where A offers the withdrawal.
        assert await ConsentRepo.ledger_rows(b.app.db.conn) == []
        assert len(await ConsentRepo.ledger_rows(a.app.db.conn)) == 1
        assert "✅ Согласен: Коля" in await consent_menu(b, PARENT_ONE)
        assert "✅ Согласен: Коля" not in await consent_menu(a, PARENT_ONE)

        await decide(b, PARENT_ONE, "❌ Не согласен: Коля")
        for h, state in ((a, "given"), (b, "declined")):
            version = await ConsentRepo.current_version(h.app.db.conn)
            assert version is not None
            states = await h.app.services.consent_gate.family_states(h.app.db.conn, version.number)
            assert states[kolya].state == state
        rows_a = await ConsentRepo.ledger_rows(a.app.db.conn)
        rows_b = await ConsentRepo.ledger_rows(b.app.db.conn)
        assert [r.decision for r in rows_a] == ["given"] and [r.decision for r in rows_b] == ["declined"]
        # Each school's chain is its own: both verify, their heads differ.
        verdict_a, verdict_b = await ledger.check(a.app.db, ConsentRepo()), await ledger.check(b.app.db, ConsentRepo())
        assert verdict_a.ok and verdict_b.ok
        head_a = await ConsentRepo.chain_head(a.app.db.conn)
        head_b = await ConsentRepo.chain_head(b.app.db.conn)
        assert head_a is not None and head_b is not None
        assert head_a.rows == head_b.rows == 1 and head_a.last_hash != head_b.last_hash

        # Each school's store is its own (its file; on PostgreSQL its schema on the one pool every school
        # shares), with its own account row for the same Telegram user.
        assert a.app.settings.database_path == school_store_path(settings.district_dir or tmp_path, "alpha")
        assert b.app.settings.database_path == school_store_path(settings.district_dir or tmp_path, "beta")
        if settings.database_url is not None:
            assert isinstance(a.app.db, PgDatabase) and isinstance(b.app.db, PgDatabase)
            assert (a.app.db.schema, b.app.db.schema) == ("school_alpha", "school_beta")
            assert a.app.db.url is None and b.app.db.url is None  # no pool of their own
        for key, h in (("alpha", a), ("beta", b)):
            person = await h.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
            assert person is not None and person.full_name == "Смирнов Олег Павлович"
            accounts = await h.app.db.fetchval("SELECT count(*) FROM accounts WHERE user_id = ?", (PARENT_ONE,))
            assert accounts == 1, key


async def test_the_district_role_sees_counts_across_schools_and_no_name_or_code(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as district:
        a, b = harness(district, "alpha"), harness(district, "beta")
        for h in (a, b):
            await load(h)
        for user in (PARENT_ONE, PARENT_TWO):
            await a.contact(user, PHONES[user], user)
        await decide(a, PARENT_ONE, "✅ Согласен: Коля")
        await decide(a, PARENT_TWO, "❌ Не согласна: Маша")

        rows = {row.key: row for row in await district.service.coverage()}
        # Three pupils, three families in each school. A: two decided (one agreed), two reached
        # (the linked parents' children: Коля; Миша and Маша); B: nobody yet.
        assert (rows["alpha"].families, rows["alpha"].consent_decided, rows["alpha"].consent_given) == (3, 2, 1)
        assert rows["alpha"].reached == 3
        assert (rows["beta"].families, rows["beta"].consent_decided, rows["beta"].reached) == (3, 0, 0)
        assert rows["alpha"].plan_total == rows["beta"].plan_total > 0
        assert [rows[k].title for k in SCHOOLS] == list(SCHOOLS.values())

        # The operator's screen through the district's dispatcher: the same table, counts only.
        await district.registry.add_operator("Районов Пётр", [(Channel.TELEGRAM, 777)], a.app.catalog.bind("ru"))
        dp = build_district_dispatcher(district)
        bot = MockedBot()
        h = Harness(a.app, bot, dp)
        calls = await h.text(777, "/district")
        text = "\n".join(c.text for c in calls if isinstance(c, SendMessage))
        assert "Школа № 1 «Альфа»" in text and "Школа № 2 «Бета»" in text
        assert "решение приняли семьи 2 из 3" in text
        for secret in [*ROSTER_NAMES, *CODES.values(), *(n.split()[0] for n in ROSTER_NAMES)]:
            assert secret not in text
        assert text == render_coverage(await district.service.coverage(), a.app.catalog.bind("ru"), html=True)

        # Anyone else is refused, and sees no figure.
        calls = await h.text(778, "/district")
        refusal = [c.text for c in calls if isinstance(c, SendMessage)]
        assert refusal == [a.app.catalog.text("ru", "district.not_operator")]


async def test_schools_share_the_catalog_and_the_faq_but_nothing_of_their_own(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as district:
        a, b = district.schools["alpha"], district.schools["beta"]
        assert a.catalog is b.catalog is district.catalog
        assert a.services.tickets.faq_library is b.services.tickets.faq_library
        assert a.db is not b.db and a.services is not b.services and a.school is not b.school
        assert a.school.school.name == SCHOOLS["alpha"] and b.school.school.name == SCHOOLS["beta"]
        # A district operator is no school's administrator: ADMIN_IDS are not handed down.
        assert a.settings.admin_ids == [] and a.settings.bot_token is None


async def test_the_district_bot_remembers_a_school_chosen_across_a_restart(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as district:
        assert await district.choices.chosen(Channel.TELEGRAM, PARENT_ONE) is None
        await district.choices.choose(Channel.TELEGRAM, PARENT_ONE, "beta")
        await district.choices.choose(Channel.TELEGRAM, PARENT_ONE, "alpha")
        await district.choices.choose(Channel.MAX, PARENT_ONE, "beta")
    async with built_district(settings) as district:
        # Per messenger account: the same number on MAX is another person.
        assert await district.choices.chosen(Channel.TELEGRAM, PARENT_ONE) == "alpha"
        assert await district.choices.chosen(Channel.MAX, PARENT_ONE) == "beta"


async def test_a_school_opens_on_its_own_as_the_multi_bot_root_starts_it(tmp_path: Path) -> None:
    """bot/multibot.py starts each school itself (its App's open), not through District.open()."""
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    district = await build_district(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler)
    try:
        app = district.schools["beta"]
        await app.open()
        assert await app.db.schema_version() > 30 and await app.people.active() == []
    finally:
        await district.close()


async def test_a_school_that_cannot_be_read_does_not_hide_the_others(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as district:
        await load(harness(district, "alpha"))
        await district.schools["beta"].db.close()  # its store down (being restored, say)
        rows = {row.key: row for row in await district.service.coverage()}
        assert rows["alpha"].available and rows["alpha"].families == 3
        assert not rows["beta"].available
        t = district.catalog.bind("ru")
        text = render_coverage(list(rows.values()), t)
        assert t("district.status_unavailable") in text and "Итого по 1 школе:" in text
        assert "Подключение: код доставлен или аккаунт привязан у семей 0 из 3 (0%)" in text


async def test_workers_starting_together_on_a_new_registry_apply_its_migrations_once(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    t = Catalog.load().bind("ru")
    stores = [registry_store(settings, t) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        for store in stores:
            assert await store.schools() == []
    finally:
        for store in stores:
            await store.close()
