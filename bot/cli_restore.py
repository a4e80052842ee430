"""`schoolbot restore FILE [--carry-over | --force]`: a backup put in place of the bot's database, the
bot stopped (bot/services/restore.py does the restore, bot/core.py `database_restore` picks how, by
DATABASE_URL). `schoolbot district restore KEY FILE` runs the same command on a school's settings
(bot/cli_district_backup.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings, load_settings
from bot.core import database_restore
from bot.domain.ops import ReceiptInfo
from bot.i18n import Catalog, Translator
from bot.services.backup import BackupError
from bot.services.restore import CarryOverFailed, RestoreRefused
from storage.lock import DatabaseLock


def _receipt_line(t: Translator, r: ReceiptInfo) -> str:
    return t("ledger.restore.receipt_line", receipt=r.receipt_id, decision=t(f"ledger.decision.{r.decision}"),
             version=r.version, when=r.created_at[:19].replace("T", " ") + " UTC")


async def cmd_restore(args: argparse.Namespace) -> int:
    # Not run through the app: the current database may be the broken thing being replaced, and
    # it must not be open while its file is swapped. The lock keeps a running bot (and imports) out.
    return await restore_command(load_settings(), args, Catalog.load().bind("ru"))


async def restore_command(settings: Settings, args: argparse.Namespace, t: Translator) -> int:
    """`schoolbot restore` on these settings' database (a district school's: bot/cli_district_backup.py)."""
    source = Path(args.file)
    passphrase = secret.get_secret_value() if (secret := settings.backup_passphrase) is not None else None
    with DatabaseLock(settings.database_path, "restore"):
        try:
            outcome = await database_restore(settings).restore(
                source, datetime.now(UTC), carry_over=args.carry_over, force=args.force, passphrase=passphrase,
            )
        except RestoreRefused as exc:
            lines = [t.plural("ledger.restore.refused", len(exc.missing), file=source)]
            lines += [_receipt_line(t, r) for r in exc.missing]
            lines.append(t("ledger.restore.offer", file=source))
            print("\n".join(lines), file=sys.stderr)
            return 1
        except CarryOverFailed as exc:
            print(t(f"ledger.restore.carry_failed_{exc.error.what}", key=exc.error.key, name=exc.error.name),
                  file=sys.stderr)
            return 1
        except BackupError as exc:
            print(t("ledger.restore.bad_file", reason=exc), file=sys.stderr)
            return 1
    if outcome.live_unreadable:
        print(t("ledger.restore.live_unreadable", reason=outcome.live_unreadable))
    if outcome.carried:
        print(t.plural("ledger.restore.carried", len(outcome.carried), receipts=", ".join(outcome.carried)))
    if outcome.lost:
        print(t.plural("ledger.restore.lost", len(outcome.lost), aside=outcome.aside))
        for r in outcome.lost:
            print(_receipt_line(t, r))
    if isinstance(outcome.aside, str):
        print(t("ledger.restore.aside_schema", aside=outcome.aside))
    elif outcome.aside is not None:
        print(t("ledger.restore.aside", aside=outcome.aside))
    if settings.database_url is not None:
        print(t("ledger.restore.done_schema", file=source, schema=settings.database_schema))
    else:
        print(t("ledger.restore.done", file=source, db=settings.database_path))
    return 0
