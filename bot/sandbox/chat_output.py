"""How the terminal chat prints what the bot sent: plain lines, or rich panels with numbered buttons."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TextIO

from bot.fakeapi import SentMessage
from bot.i18n import Catalog


class ChatOutput:
    """Plain text output; RichOutput overrides the presentation."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        # The sandbox's words ("edited", "keyboard:"); the chat engine puts its own language here.
        self.t: Callable[..., str] = _russian


    def write(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def info(self, text: str) -> None:
        self.write(text)

    def error(self, text: str) -> None:
        self.write(f"! {text}")

    def message(self, who: str, message: SentMessage, *, edited: bool, labels: dict[tuple[int, int], str],
                saved: Path | None, when: str) -> None:
        tag = f" ({self.t('edited')})" if edited else ""
        deleted = f" ({self.t('deleted')})" if message.deleted else ""
        self.write(f"── {self.t('bot_to', who=who)} · #{message.message_id} · {when}{tag}{deleted}")
        if message.plain:
            self.write(message.plain)
        if saved is not None:
            self.write(self.saved_line(message, saved))
        for line in _button_lines(message, labels, self.t("keyboard")):
            self.write(line)

    def saved_line(self, message: SentMessage, saved: Path) -> str:
        key = "photo_saved" if message.method == "sendPhoto" else "document_saved"
        return self.t(key, path=str(saved))

    def table(self, title: str, rows: Sequence[tuple[str, ...]], headers: Sequence[str] = ()) -> None:
        self.write(title)
        if headers:
            self.write("  " + "  ".join(headers))
        for row in rows:
            self.write("  " + "  ".join(row))


class RichOutput(ChatOutput):
    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console(highlight=False)

    def write(self, text: str = "") -> None:
        self.console.print(text, markup=False)

    def info(self, text: str) -> None:
        self.console.print(text, style="cyan", markup=False)

    def error(self, text: str) -> None:
        self.console.print(text, style="bold red", markup=False)

    def message(self, who: str, message: SentMessage, *, edited: bool, labels: dict[tuple[int, int], str],
                saved: Path | None, when: str) -> None:
        from rich.panel import Panel
        from rich.text import Text

        body = Text(message.plain or "")
        if saved is not None:
            body.append("\n" + self.saved_line(message, saved), style="magenta")
        lines = _button_lines(message, labels, self.t("keyboard"))
        if lines:
            body.append("\n" + "\n".join(lines), style="bold yellow")
        title = (f"{self.t('bot_to', who=who)} · #{message.message_id} · {when}"
                 + (f" · {self.t('edited')}" if edited else ""))
        self.console.print(Panel(body, title=title, title_align="left", border_style="yellow" if edited else "green"))

    def table(self, title: str, rows: Sequence[tuple[str, ...]], headers: Sequence[str] = ()) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_header=bool(headers))
        width = max((len(r) for r in rows), default=len(headers) or 1)
        for i in range(width):
            table.add_column(headers[i] if i < len(headers) else "")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def _button_lines(message: SentMessage, labels: dict[tuple[int, int], str], keyboard_word: str) -> list[str]:
    """The message's buttons under their labels ("4.2": message #4, button 2); "·" for a button
    no longer pressable (a keyboard a later message replaced, a deleted message)."""
    def rows(kind: str, grid: list[list[str]]) -> list[str]:
        lines, index = [], 0
        sign = 1 if kind == "inline" else -1
        for row in grid:
            cells = []
            for text in row:
                index += 1
                cells.append(f"[{labels.get((sign * message.message_id, index), '·')}] {text}")
            lines.append("  " + "   ".join(cells))
        return lines

    lines = rows("inline", message.buttons())
    keyboard = message.reply_buttons()
    if keyboard:
        lines.append(f"  {keyboard_word}")
        lines += rows("reply", keyboard)
    return lines


@cache
def _catalog() -> Catalog:
    return Catalog.load()


def _russian(key: str, /, **params: object) -> str:
    """The words of an output used without a chat engine (Russian, the sandbox's default)."""
    text: str = _catalog().text("ru", f"sandbox.{key}", **params)
    return text
