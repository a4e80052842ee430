"""Where each capability plugs its hooks into the App (link hooks, outbox renderers, importers,
admin menu entries)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App


def install(app: App) -> None:
    from bot.services.imports import ROSTER_IMPORTER

    app.importers[ROSTER_IMPORTER.kind] = ROSTER_IMPORTER
    app.admin_actions.append(("link", "admin.action.link"))
    # Each capability adds one line below: `<module>.install(app)`.
    from bot.services import report as ops_report

    ops_report.install(app)
    from bot.services import consent_export

    consent_export.install(app)
    from bot.services import broadcast

    broadcast.install(app)
    from bot.services import codes

    codes.install(app)
    from bot.services import tasks

    tasks.install(app)
    from bot.services import tickets as help_tickets
    from bot.services import training as help_training
    help_tickets.install(app)
    help_training.install(app)
