"""How the terminal chat prints what the bot sent: plain lines, or rich panels with numbered buttons."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.fakeapi import SentMessage


class ChatOutput:
    """Plain text output; RichOutput overrides the presentation."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def write(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def info(self, text: str) -> None:
        self.write(text)

    def error(self, text: str) -> None:
        self.write(f"! {text}")

    def message(self, who: str, message: SentMessage, *, edited: bool, numbers: dict[tuple[int, str], int],
                saved: Path | None, when: str) -> None:
        tag = " (edited)" if edited else ""
        deleted = " (deleted)" if message.deleted else ""
        self.write(f"── bot → {who} · #{message.message_id} · {when}{tag}{deleted}")
        if message.plain:
            self.write(message.plain)
        if saved is not None:
            kind = "photo" if message.method == "sendPhoto" else "document"
            self.write(f"[{kind} saved: {saved}]")
        for line in _button_lines(message, numbers):
            self.write(line)

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

    def message(self, who: str, message: SentMessage, *, edited: bool, numbers: dict[tuple[int, str], int],
                saved: Path | None, when: str) -> None:
        from rich.panel import Panel
        from rich.text import Text

        body = Text(message.plain or "")
        if saved is not None:
            kind = "photo" if message.method == "sendPhoto" else "document"
            body.append(f"\n[{kind} saved: {saved}]", style="magenta")
        lines = _button_lines(message, numbers)
        if lines:
            body.append("\n" + "\n".join(lines), style="bold yellow")
        title = f"bot → {who} · #{message.message_id} · {when}" + (" · edited" if edited else "")
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


def _button_lines(message: SentMessage, numbers: dict[tuple[int, str], int]) -> list[str]:
    def label(kind: str, text: str) -> str:
        n = numbers.get((message.message_id if kind == "inline" else -message.message_id, text))
        return f"[{n}] {text}" if n is not None else f"[·] {text}"

    lines = ["  " + "   ".join(label("inline", b) for b in row) for row in message.buttons()]
    keyboard = message.reply_buttons()
    if keyboard:
        lines.append("  keyboard:")
        lines += ["  " + "   ".join(label("reply", b) for b in row) for row in keyboard]
    return lines
