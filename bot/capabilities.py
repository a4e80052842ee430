"""Where each capability plugs into the services' Core (link listeners, outbox renderers,
importers, admin menu entries). The order is the order of the IT officer's /admin menu."""

from __future__ import annotations

from bot.services import broadcast, codes, consent_export, report, tasks, tickets, training
from bot.services.core import Core
from bot.services.imports import ROSTER_IMPORTER


def install(app: Core) -> None:
    app.importers[ROSTER_IMPORTER.kind] = ROSTER_IMPORTER
    app.admin_actions.append(("link", "admin.action.link"))
    app.admin_actions.append(("new_year", "year.action"))
    app.admin_actions.append(("archive", "archive.action"))
    app.admin_actions.append(("merge", "admin.action.merge"))
    for capability in (report, consent_export, broadcast, codes, tasks, tickets, training):
        capability.install(app)
