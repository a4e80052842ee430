"""One Router per capability. The catch-all routers come last by construction, not by comment."""

from __future__ import annotations

from aiogram import Router


def capability_routers() -> list[Router]:
    from handlers import admin, start

    return [start.router, admin.router]


def catch_all_routers() -> list[Router]:
    from handlers import fallback

    return [fallback.router]


def routers() -> list[Router]:
    return [*capability_routers(), *catch_all_routers()]
