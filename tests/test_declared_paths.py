"""Every function the bot's declarations name by module path ("module:Qualified.name") exists, has
the shape its caller gives it, and sits in a layer its declarer may use.

The command table (bot/cli_specs.py) and the capabilities' routers and screens (bot/capabilities.py)
name what they mean by path so that reading them loads nothing (a CLI command that sends nothing
never imports aiogram). A path is a dependency no `import` checks: this test is its check, so a
renamed service method or handler module fails here, not when a school runs the command."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import fields
from typing import Any, get_type_hints

import pytest

from bot import capabilities, cli_specs
from bot.modpath import resolve, split
from bot.tg.callbacks import AdminActionId
from bot.wiring import Services
from tests.test_layering import RANK, layer_of


def _defaults(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _defaults(sub, f"{path} {name}".strip())
    if parser._defaults:
        found.append((path, dict(parser._defaults)))
    return found


COMMANDS = _defaults(cli_specs.build_parser())
SERVICE_CLASSES = set(get_type_hints(Services).values())


def test_every_command_names_exactly_one_runner() -> None:
    assert len(COMMANDS) >= 25
    for command, defaults in COMMANDS:
        assert ("run" in defaults) != ("entry" in defaults), command


@pytest.mark.parametrize(("command", "defaults"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_every_command_path_resolves_to_a_runner_of_its_kind(command: str, defaults: dict[str, Any]) -> None:
    path = defaults.get("run") or defaults["entry"]
    module, qualname = split(path)
    runner = resolve(path)
    assert inspect.iscoroutinefunction(runner), f"{command}: {path} is not an async def"
    params = list(inspect.signature(runner).parameters)
    if "entry" in defaults:
        assert params == ["args"], f"{command}: an entry takes (args)"
        return
    owner, _, _ = qualname.rpartition(".")
    if owner:
        # A method of a capability's service: bot/cli_app.py finds the one built service of that class.
        service_class = resolve(f"{module}:{owner}")
        assert service_class in SERVICE_CLASSES, f"{command}: {owner} is not a service bot/wiring.py builds"
        assert params == ["self", "args", "t"], f"{command}: {path}{params}"
    else:
        assert params == ["app", "args", "t"], f"{command}: {path}{params}"


def test_capability_paths_resolve_to_what_the_root_builds() -> None:
    known = {f.name for f in fields(Services)}
    for capability in capabilities.CAPABILITIES:
        for spec in capability.routers:
            module, _ = split(spec.build)
            # A path is an arrow like an import: the root may name handlers, nothing above itself.
            layer = layer_of(module)
            assert layer is not None and RANK[layer] <= RANK["root"], spec.build
            assert callable(resolve(spec.build)), spec.build
        for data in capability.data:
            cls = resolve(data.build)
            wanted = [p.name for p in inspect.signature(cls).parameters.values() if p.kind is p.KEYWORD_ONLY]
            assert wanted and set(wanted) <= known, f"{data.build} asks for {set(wanted) - known}"
        for entry in capability.admin_actions:
            # Declared as plain strings so the declarations load no aiogram; each is a real action id.
            assert entry.action in set(AdminActionId), entry.action


def test_a_misspelt_path_fails_at_once() -> None:
    with pytest.raises(ValueError, match="module path"):
        split("bot.services.report.ReportService")
    with pytest.raises(AttributeError):
        resolve("bot.services.report:ReportService.cmd_bakup")
    with pytest.raises(ModuleNotFoundError):
        resolve("handlers.no_such_module:build_router")
