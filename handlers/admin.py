"""The IT officer's /admin menu: importing files sent to the bot, and one-time link tokens."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as html

from bot.channels import Channel, ServedBots, deep_link
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.max import channel_of
from bot.russian import Named
from bot.services.access_log import AccessKind, AccessLog
from bot.services.imports import MAX_IMPORT_BYTES, Importer, ImportOptions, render_outcome
from bot.services.onboarding import MergeRefused, OnboardingService
from bot.services.people_text import find_people, person_label
from bot.tg.callbacks import AdminAction, ImportChoice, ImportConfirm, ImportPick, LinkPick, MergePick, MergeStep
from bot.tg.filters import HasContent, HasRole, MenuButton
from bot.tg.policy import credential, personal, public
from storage.db import DiskFull
from storage.messengers import Reach
from storage.people import PersonRepo

log = logging.getLogger(__name__)

# Every callback of this module is for the IT officer only (tests/test_access.py relies on it).
STAFF_ONLY = True


class LinkSearch(StatesGroup):
    waiting_name = State()


@public
async def admin_menu(message: Message, t: Translator, *, admin_actions: Sequence[tuple[str, str]]) -> None:
    rows = [
        [InlineKeyboardButton(text=t(label), callback_data=AdminAction(action=action).pack())]
        for action, label in admin_actions
    ]
    await message.answer(t("admin.menu"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


# --- files ------------------------------------------------------------------------------------


def _kinds_keyboard(t: Translator, *, importers: Mapping[str, Importer]) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=t(imp.label_key), callback_data=ImportChoice(kind=kind).pack())]
        for kind, imp in importers.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


@personal
async def file_received(
    message: Message, t: Translator, state: FSMContext, *, importers: Mapping[str, Importer],
) -> None:
    assert message.document is not None
    doc = message.document
    if doc.file_size is not None and doc.file_size > MAX_IMPORT_BYTES:
        await message.answer(t("imports.too_big"))
        return
    await state.update_data(
        import_file_id=doc.file_id, import_file_name=doc.file_name or "import.csv", import_resolutions=None
    )
    name = html.quote(doc.file_name or "")
    await message.answer(t("imports.what_is_it", name=name), reply_markup=_kinds_keyboard(t, importers=importers))


async def _download(bot: Bot, file_id: str) -> bytes:
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    return buffer.getvalue()


@personal
async def import_chosen(
    query: CallbackQuery, callback_data: ImportChoice, bot: Bot, person: Person, t: Translator, state: FSMContext, *,
    importers: Mapping[str, Importer],
) -> None:
    data = await state.get_data()
    importer = importers.get(callback_data.kind)
    file_id = data.get("import_file_id")
    if importer is None or not file_id or not isinstance(query.message, Message):
        await query.answer(t("imports.expired"), show_alert=True)
        return
    await query.answer()
    await _run_import(
        query.message, bot, person, t, state, importer.kind, apply=callback_data.apply, confirm=False,
    importers=importers)


@personal
async def import_confirmed(
    query: CallbackQuery, callback_data: ImportConfirm, bot: Bot, person: Person, t: Translator, state: FSMContext, *,
    importers: Mapping[str, Importer],
) -> None:
    data = await state.get_data()
    if callback_data.kind not in importers or not data.get("import_file_id") or not isinstance(
        query.message, Message
    ):
        await query.answer(t("imports.expired"), show_alert=True)
        return
    await query.answer()
    await _run_import(
        query.message, bot, person, t, state, callback_data.kind, apply=True, confirm=True, importers=importers
    )


async def _run_import(
    message: Message, bot: Bot, person: Person, t: Translator, state: FSMContext, kind: str, *, apply: bool,
    confirm: bool, importers: Mapping[str, Importer],
) -> None:
    data = await state.get_data()
    importer = importers[kind]
    content = await _download(bot, str(data.get("import_file_id")))
    filename = str(data.get("import_file_name") or "import.csv")
    resolutions = data.get("import_resolutions") or {}
    options = ImportOptions(
        dry_run=not apply,
        actor_id=person.id,
        confirm_deactivations=confirm,
        resolutions=tuple(sorted((str(k), str(v)) for k, v in resolutions.items())),
    )
    try:
        outcome = await importer.run(content, filename, options)
    except DiskFull:
        log.error("import of %s refused: the disk holding the database is full", kind)
        await message.edit_text(t("imports.disk_full"))
        return
    if outcome.ambiguous:
        # Asked, never guessed: one pupil at a time, the existing pupils it could be as buttons.
        first = outcome.ambiguous[0]
        await state.update_data(import_pending=[first.roster_key, [key for key, _ in first.candidates]])
        rows = [
            [InlineKeyboardButton(
                text=t("imports.ambiguous_was", name=Named(first.name), cls=cls),
                callback_data=ImportPick(kind=kind, n=i).pack(),
            )]
            for i, (_, cls) in enumerate(first.candidates)
        ]
        new_pupil = ImportPick(kind=kind, n=-1).pack()
        rows.append([InlineKeyboardButton(text=t("imports.ambiguous_new"), callback_data=new_pupil)])
        rows.append([InlineKeyboardButton(text=t("imports.cancel"), callback_data=AdminAction(action="cancel").pack())])
        await message.edit_text(
            t("imports.ambiguous_title", name=html.quote(first.name), cls=first.class_label or "—"),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
        )
        return
    text = render_outcome(outcome, t, html=True)  # whole: the wire cuts it into messages
    markup = None
    if outcome.ok and outcome.needs_confirmation:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("imports.confirm"),
                        callback_data=ImportConfirm(kind=kind).pack(),
                    ),
                    InlineKeyboardButton(text=t("imports.cancel"), callback_data=AdminAction(action="cancel").pack()),
                ]
            ]
        )
    elif outcome.ok and not apply:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("imports.apply"), callback_data=ImportChoice(kind=kind, apply=True).pack()
                    ),
                    InlineKeyboardButton(text=t("imports.cancel"), callback_data=AdminAction(action="cancel").pack()),
                ]
            ]
        )
    if outcome.applied or not outcome.ok:
        await state.update_data(import_file_id=None, import_file_name=None, import_resolutions=None)
    await message.edit_text(text, reply_markup=markup)


@personal
async def import_pick(
    query: CallbackQuery, callback_data: ImportPick, bot: Bot, person: Person, t: Translator, state: FSMContext, *,
    importers: Mapping[str, Importer],
) -> None:
    data = await state.get_data()
    pending = data.get("import_pending")
    if (
        callback_data.kind not in importers or not data.get("import_file_id") or not isinstance(pending, list)
        or not isinstance(query.message, Message) or not -1 <= callback_data.n < len(pending[1])
    ):
        await query.answer(t("imports.expired"), show_alert=True)
        return
    await query.answer()
    resolutions = dict(data.get("import_resolutions") or {})
    resolutions[str(pending[0])] = "new" if callback_data.n < 0 else str(pending[1][callback_data.n])
    await state.update_data(import_resolutions=resolutions, import_pending=None)
    await _run_import(
        query.message, bot, person, t, state, callback_data.kind, apply=False, confirm=False, importers=importers
    )


@public
async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await query.answer(t("imports.cancelled"))
    if isinstance(query.message, Message):
        await query.message.edit_text(t("imports.cancelled"))


# --- link tokens --------------------------------------------------------------------------------


@public
async def link_start(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(LinkSearch.waiting_name)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("admin.link_ask_name"))


@personal
async def link_search(
    message: Message, t: Translator, state: FSMContext, *, access_log: AccessLog, onboarding: OnboardingService,
    people: PersonRepo,
) -> None:
    assert message.text is not None
    found = await find_people(people, message.text)
    # The log keeps who was found (ids), never the name typed.
    await access_log.record(AccessKind.PERSON_SEARCH, ",".join(str(p.id) for p in found))
    if not found:
        await message.answer(t("admin.link_none"))
        return
    await state.clear()
    rows = [
        [
            InlineKeyboardButton(
                text=person_label(p),
                callback_data=LinkPick(person_id=p.id).pack(),
            )
        ]
        for p in found
    ]
    # Where each of them is reached, and the messenger they chose (#17): the IT officer sees it.
    lines = [t("admin.link_pick")]
    for p in found:
        reach = await onboarding.reach(p.id)
        lines.append(t("admin.reach_line", name=html.quote(p.full_name), where=_where(reach, t)))
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def _where(reach: Reach | None, t: Translator) -> str:
    linked = [] if reach is None else [
        channel for channel in Channel if reach.user_id(channel) is not None
    ]
    if reach is None or not linked:
        return t("admin.reach_none")
    how = t("admin.reach_chosen") if reach.chosen is not None else t("admin.reach_default")
    return t("admin.reach_where", channels=", ".join(t(f"admin.channel.{c.value}") for c in linked),
             preferred=t(f"admin.channel.{reach.preferred.value}"), how=how)


async def sign_in_links(bot: Bot, served: ServedBots, token: str, t: Translator) -> str:
    """One line per messenger the school serves, each naming its messenger: a person opens the link
    of the one they use (a Telegram link does not open the bot in MAX)."""
    here = channel_of(bot)
    channels = served.channels if here in served.channels else [*served.channels, here]
    lines = []
    payload = served.payload_prefix + token  # a district bot's: the school's key first
    for channel in channels:
        username = served.usernames.get(channel)
        if not username and channel is here:
            username = (await bot.me()).username  # aiogram keeps it after the first call
        lines.append(
            t("admin.link_line", messenger=channel.label, link=deep_link(channel, username, payload)) if username
            else t("admin.link_line_typed", messenger=channel.label, command=f"/start {payload}")
        )
    return "\n".join(lines)


@credential
async def link_pick(
    query: CallbackQuery, callback_data: LinkPick, bot: Bot, person: Person, t: Translator, *,
    onboarding: OnboardingService, people: PersonRepo, served: ServedBots,
) -> None:
    target = await people.get(callback_data.person_id)
    if target is None or not target.active:
        await query.answer(t("admin.link_none"), show_alert=True)
        return
    token = await onboarding.create_token(purpose="link", person_id=target.id, created_by=person.id)
    await query.answer()
    if isinstance(query.message, Message):
        # The link is shown once, to the IT officer who asked for it; only its hash is stored.
        links = await sign_in_links(bot, served, token, t)
        await query.message.edit_text(t("admin.link_created", name=Named(target.full_name, escape=True), links=links))


# --- one person per human ------------------------------------------------------------------------


@personal
async def merge_start(query: CallbackQuery, t: Translator, *, onboarding: OnboardingService) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    pairs = await onboarding.merge_suggestions()
    if not pairs:
        await query.message.answer(t("admin.merge_none"))
        return
    rows = [
        [InlineKeyboardButton(
            text=f"{dup.full_name} → {person_label(into)}",
            callback_data=MergePick(step=MergeStep.ASK, duplicate=dup.id, into=into.id).pack(),
        )]
        for dup, into in pairs
    ]
    await query.message.answer(t("admin.merge_pick"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def _suggested(
    query: CallbackQuery, callback_data: MergePick, t: Translator, onboarding: OnboardingService,
) -> tuple[Person, Person] | None:
    """The pair a button names, only if the bot itself suggests it: forged ids are refused."""
    pairs = {(d.id, i.id): (d, i) for d, i in await onboarding.merge_suggestions()}
    pair = pairs.get((callback_data.duplicate, callback_data.into))
    if pair is None:
        await query.answer(t("admin.merge_bad"), show_alert=True)
    return pair


def _names(dup: Person, into: Person) -> dict[str, str]:
    return {"duplicate": html.quote(dup.full_name), "into": html.quote(into.full_name)}


@public
async def merge_cancel(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("admin.merge_cancelled"))
    if isinstance(query.message, Message):
        await query.message.edit_text(t("admin.merge_cancelled"))


@personal
async def merge_ask(
    query: CallbackQuery, callback_data: MergePick, t: Translator, *, onboarding: OnboardingService,
) -> None:
    pair = await _suggested(query, callback_data, t, onboarding)
    if pair is None:
        return
    dup, into = pair
    await query.answer()
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t("admin.merge_yes"), callback_data=MergePick(
            step=MergeStep.DO, duplicate=dup.id, into=into.id).pack()),
        InlineKeyboardButton(text=t("admin.merge_no"), callback_data=MergePick(
            step=MergeStep.CANCEL, duplicate=dup.id, into=into.id).pack()),
    ]])
    if isinstance(query.message, Message):
        await query.message.edit_text(t("admin.merge_confirm", **_names(dup, into)), reply_markup=markup)


@personal
async def merge_do(
    query: CallbackQuery, callback_data: MergePick, t: Translator, *, onboarding: OnboardingService,
) -> None:
    pair = await _suggested(query, callback_data, t, onboarding)
    if pair is None:
        return
    dup, into = pair
    try:
        await onboarding.merge_people(duplicate_id=dup.id, into_id=into.id)
    except MergeRefused as refused:
        await query.answer(t(str(refused)), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(t("admin.merge_done", **_names(dup, into)))


def build_router() -> Router:
    router = Router(name="admin")
    router.message.filter(HasRole(*ADMIN_ROLES))
    router.callback_query.filter(HasRole(*ADMIN_ROLES))
    router.message.register(admin_menu, Command("admin"))
    router.message.register(admin_menu, MenuButton("admin"))
    router.message.register(file_received, StateFilter(None), HasContent("document"))
    router.callback_query.register(import_chosen, ImportChoice.filter())
    router.callback_query.register(import_pick, ImportPick.filter())
    router.callback_query.register(import_confirmed, ImportConfirm.filter())
    router.callback_query.register(cancel, AdminAction.filter(F.action == "cancel"))
    router.callback_query.register(link_start, AdminAction.filter(F.action == "link"))
    router.message.register(link_search, StateFilter(LinkSearch.waiting_name), HasContent("text"))
    router.callback_query.register(link_pick, LinkPick.filter())
    router.callback_query.register(merge_start, AdminAction.filter(F.action == "merge"))
    router.callback_query.register(merge_cancel, MergePick.filter(F.step == MergeStep.CANCEL))
    router.callback_query.register(merge_ask, MergePick.filter(F.step == MergeStep.ASK))
    router.callback_query.register(merge_do, MergePick.filter(F.step == MergeStep.DO))
    return router
