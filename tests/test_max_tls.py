"""MAX's production protocol: the platform-api2 host and the Russian Trusted Root CA.

platform-api2.max.ru presents a certificate chained to the Russian Trusted Root CA, which certifi
(aiogram's trust store) does not hold. The root ships in content/certs, its fingerprint pinned here;
the MAX session trusts it beside the public roots, and MAX_CA_FILE can point elsewhere. The fake MAX
serves HTTPS with a certificate from a test root, so the tests prove the session verifies what it is
shown: it talks to a server whose root it trusts and refuses one whose root it does not.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import certifi
import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError

from bot.app import build_max_bot
from bot.config import ConfigError, load_settings
from bot.fakemax import FakeMax
from bot.max import MAX_API_URL, MaxSession
from bot.max.tls import RUSSIAN_TRUSTED_ROOT, RUSSIAN_TRUSTED_ROOT_SHA256, certificate_sha256
from tests.harness import make_settings
from tests.tls_helpers import ScratchAuthority, make_authority

# Pinned independently of bot/max/tls.py: `openssl x509 -noout -fingerprint -sha256` of the shipped file.
PINNED = "D2:6D:2D:02:31:B7:C3:9F:92:CC:73:85:12:BA:54:10:35:19:E4:40:5D:68:B5:BD:70:3E:97:88:CA:8E:CF:31"
RUSSIAN_ROOT_SUBJECT = (
    (("countryName", "RU"),),
    (("organizationName", "The Ministry of Digital Development and Communications"),),
    (("commonName", "Russian Trusted Root CA"),),
)


def _subjects(context: ssl.SSLContext) -> list[object]:
    return [cert["subject"] for cert in context.get_ca_certs()]


def test_the_shipped_root_is_the_russian_trusted_root_ca() -> None:
    assert certificate_sha256(RUSSIAN_TRUSTED_ROOT) == PINNED.replace(":", "").lower() == RUSSIAN_TRUSTED_ROOT_SHA256
    alone = ssl.create_default_context(cafile=str(RUSSIAN_TRUSTED_ROOT))
    [cert] = alone.get_ca_certs()
    assert cert["subject"] == cert["issuer"] == RUSSIAN_ROOT_SUBJECT  # self-signed: a root
    assert (cert["notBefore"], cert["notAfter"]) == ("Mar  1 21:04:15 2022 GMT", "Feb 27 21:04:15 2032 GMT")
    readme = (RUSSIAN_TRUSTED_ROOT.parent / "README.md").read_text(encoding="utf-8")
    assert PINNED in readme


def test_the_default_host_is_platform_api2(tmp_path: Path) -> None:
    assert MAX_API_URL == "https://platform-api2.max.ru"
    bot = build_max_bot(make_settings(tmp_path, max_token="max-token"))
    assert bot is not None
    assert isinstance(bot.session, MaxSession)
    assert bot.session._base == "https://platform-api2.max.ru"


async def test_the_max_session_trusts_certifi_and_the_russian_root() -> None:
    telegram = AiohttpSession()
    session = MaxSession("max-token")
    try:
        # aiogram's own context: certifi alone, so MAX's certificate would fail verification.
        assert RUSSIAN_ROOT_SUBJECT not in _subjects(telegram._connector_init["ssl"])
        trusted = _subjects(session._connector_init["ssl"])
        assert RUSSIAN_ROOT_SUBJECT in trusted
        public = _subjects(ssl.create_default_context(cafile=certifi.where()))
        assert len(public) > 100 and all(subject in trusted for subject in public)
    finally:
        await telegram.close()
        await session.close()


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> ScratchAuthority:
    return make_authority(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def mx_tls(authority: ScratchAuthority) -> AsyncIterator[FakeMax]:
    async with FakeMax(server_ssl=authority.server_context()) as server:
        yield server
    assert server.response_violations == [] and server.internal_errors == []


async def test_the_session_verifies_the_server_against_the_trusted_root(
    mx_tls: FakeMax, authority: ScratchAuthority, tmp_path: Path
) -> None:
    assert mx_tls.base_url.startswith("https://")
    settings = make_settings(tmp_path, max_token=mx_tls.token, max_api_url=mx_tls.base_url, max_ca_file=authority.root)
    bot = build_max_bot(settings)
    assert bot is not None
    try:
        me = await bot.get_me()
        assert me.id == mx_tls.bot_id
        mx_tls.user(7101, "Ольга")
        sent = await bot.send_message(7101, "Здравствуйте")
        assert sent.text is not None and mx_tls.sent(7101)[0].plain == "Здравствуйте"
    finally:
        await bot.session.close()


async def test_the_session_refuses_a_server_whose_root_it_does_not_trust(
    mx_tls: FakeMax, tmp_path: Path
) -> None:
    # The default trust (public roots + the Russian root) does not cover the test root.
    settings = make_settings(tmp_path, max_token=mx_tls.token, max_api_url=mx_tls.base_url)
    bot = build_max_bot(settings)
    assert bot is not None
    try:
        with pytest.raises(TelegramNetworkError, match="(?i)certificate"):
            await bot.get_me()
    finally:
        await bot.session.close()
    # Another root, trusted instead of the right one: refused as well.
    stranger = make_authority(tmp_path / "stranger", name="someone else")
    bot = build_max_bot(
        make_settings(tmp_path, max_token=mx_tls.token, max_api_url=mx_tls.base_url, max_ca_file=stranger.root)
    )
    assert bot is not None
    try:
        with pytest.raises(TelegramNetworkError, match="(?i)certificate"):
            await bot.get_me()
    finally:
        await bot.session.close()
    assert not any(r.operation_id == "getMyInfo" for r in mx_tls.requests)


def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAX_CA_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="переменная окружения MAX_CA_FILE: файл сертификатов .*nope.pem.* не найден"):
        load_settings(_env_file=None)
