"""Every public name of Temporal's Python SDK (temporalio 1.35, a test-only dependency read for
its names) is either offered by `perdure` under the same module path or listed, with its
reason, in the SDK README's table "Temporal names not offered"."""

from __future__ import annotations

import importlib
import re
import types
import typing
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"
MODULES = [
    "workflow",
    "activity",
    "client",
    "worker",
    "converter",
    "exceptions",
    "common",
    "testing",
    "envconfig",
    "contrib.pydantic",
]
ROW = re.compile(r"^\| `([\w.]+)` \| (.+?) \| (.+?) \|$")


def temporal_names(module: types.ModuleType) -> set[str]:
    """The module's own public names: not modules, type variables, or what it imports from
    outside temporalio (`Any`, `dataclass`, `timedelta`...)."""
    names = set()
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType | typing.TypeVar | typing.ParamSpec):
            continue
        owner = getattr(value, "__module__", None)
        if owner is None and not isinstance(value, str | int | float):
            continue
        if owner is not None and not str(owner).startswith("temporalio"):
            continue
        names.add(name)
    return names


def listed_names() -> dict[str, set[str]]:
    """The README table's names by module (each row: module, names, reason)."""
    text = README.read_text()
    section = text.split("### Temporal names not offered", 1)[1]
    listed: dict[str, set[str]] = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if found is None:
            continue
        module, names, reason = found.groups()
        assert reason.strip(), f"no reason given for {names}"
        listed.setdefault(module, set()).update(re.findall(r"`(\w+)`", names))
    return listed


def perdure_names(module: str) -> set[str]:
    try:
        return set(dir(importlib.import_module(f"perdure.{module}")))
    except ModuleNotFoundError:
        return set()


@pytest.mark.parametrize("module", MODULES)
def test_every_temporal_name_is_offered_or_listed_with_a_reason(module: str) -> None:
    pytest.importorskip("temporalio", minversion="1.35")
    temporal = importlib.import_module(f"temporalio.{module}")
    missing = temporal_names(temporal) - perdure_names(module) - listed_names().get(module, set())
    assert not missing, (
        f"temporalio.{module} names neither in perdure.{module} nor in the README's table: "
        f"{sorted(missing)}"
    )


def test_the_table_lists_only_names_temporal_has() -> None:
    pytest.importorskip("temporalio", minversion="1.35")
    for module, names in listed_names().items():
        temporal = temporal_names(importlib.import_module(f"temporalio.{module}"))
        assert names <= temporal, f"{module}: not Temporal's: {sorted(names - temporal)}"
