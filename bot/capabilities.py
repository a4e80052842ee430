"""Where each capability plugs its hooks into the App (link hooks, outbox renderers, importers,
admin menu entries). The order is the order of the IT officer's /admin menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App


def install(app: App) -> None:
    from bot.services import broadcast, codes, consent_export, report, tasks, tickets, training
    from bot.services.imports import ROSTER_IMPORTER

    app.importers[ROSTER_IMPORTER.kind] = ROSTER_IMPORTER
    app.admin_actions.append(("link", "admin.action.link"))
    app.admin_actions.append(("new_year", "year.action"))
    app.admin_actions.append(("archive", "archive.action"))
    app.admin_actions.append(("merge", "admin.action.merge"))
    for capability in (report, consent_export, broadcast, codes, tasks, tickets, training):
        capability.install(app)
