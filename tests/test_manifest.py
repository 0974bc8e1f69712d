"""The npe2 manifest is valid, installed, and every ``python_name`` in it resolves to a callable.

Written over whatever the manifest contains, so later contributions (readers, widgets, writers) are
checked without editing this file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

npe2 = pytest.importorskip("npe2")

import napari_deepcolor  # noqa: E402

MANIFEST = Path(napari_deepcolor.__file__).parent / "napari.yaml"


@pytest.fixture(scope="module")
def manifest() -> npe2.PluginManifest:
    return npe2.PluginManifest.from_file(MANIFEST)


def _commands(manifest: npe2.PluginManifest) -> dict[str, str]:
    commands = manifest.contributions.commands or []
    return {c.id: c.python_name for c in commands}


def _referenced_commands(node: Any) -> list[str]:
    """Every value under a ``command`` key anywhere in the contributions (samples, widgets, menus...)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "command" and isinstance(value, str):
                found.append(value)
            else:
                found += _referenced_commands(value)
    elif isinstance(node, list):
        for item in node:
            found += _referenced_commands(item)
    return found


def test_manifest_is_valid(manifest: npe2.PluginManifest) -> None:
    # from_file already ran npe2's schema validation; validate_imports is what `npe2 validate --imports` adds
    assert manifest.name == "napari-deepcolor"
    assert manifest.display_name == "Deep Coloring"
    manifest.validate_imports()


def test_manifest_is_found_through_the_entry_point() -> None:
    installed = npe2.PluginManifest.from_distribution("napari-deepcolor")
    assert installed.name == "napari-deepcolor"
    assert _commands(installed) == _commands(npe2.PluginManifest.from_file(MANIFEST))


def test_every_python_name_resolves_to_a_callable(manifest: npe2.PluginManifest) -> None:
    commands = _commands(manifest)
    assert commands, "the manifest declares no commands"
    for command_id, python_name in commands.items():
        assert python_name, f"command {command_id!r} has no python_name"
        module_name, _, attribute = python_name.partition(":")
        module = importlib.import_module(module_name)
        target = getattr(module, attribute, None)
        assert callable(target), f"{command_id!r}: {python_name!r} is not a callable"


def test_every_referenced_command_is_declared(manifest: npe2.PluginManifest) -> None:
    declared = set(_commands(manifest))
    referenced = _referenced_commands(manifest.contributions.model_dump(exclude={"commands"}))
    assert referenced, "no contribution refers to a command"
    assert set(referenced) <= declared, f"undeclared commands: {sorted(set(referenced) - declared)}"
