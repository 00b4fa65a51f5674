"""The house follows the data: which package may import which (read from the source, not from imports at run time)."""

from __future__ import annotations

import ast
from pathlib import Path

from lib.settings import PROJECT_DIR

LIB = PROJECT_DIR / "lib"


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def app_imports(package: str) -> dict[str, set[str]]:
    """For each file of ``lib/<package>``, the modules of the app (lib.*) outside that package it imports."""
    own = f"lib.{package}"
    return {
        str(path.relative_to(PROJECT_DIR)): {
            m for m in imported(path) if m.startswith("lib") and m != own and not m.startswith(own + ".")
        }
        for path in sorted((LIB / package).rglob("*.py"))
    }


def test_the_local_server_imports_only_the_openai_format_rules_and_the_rhymes_of_the_app() -> None:
    """The local server is a process of its own that others may run without the app: of the app it may use only
    the pure rules both sides must agree on, lib.openai_format and lib.rhymes (what rhymes, for rhyming lines)."""
    outside = {
        file: sorted(m for m in modules if not m.startswith("lib.openai_format") and m != "lib.rhymes")
        for file, modules in app_imports("local").items()
    }
    assert {file: modules for file, modules in outside.items() if modules} == {}


def test_the_openai_format_rules_and_the_rhymes_import_nothing_else_of_the_app() -> None:
    assert {file: modules for file, modules in app_imports("openai_format").items() if modules} == {}
    assert not [m for m in imported(LIB / "rhymes.py") if m.startswith("lib")]


def screens() -> list[Path]:
    """The files that draw the app: the router, every page and the Streamlit-aware helpers of lib/ui."""
    return [PROJECT_DIR / "app.py", *sorted((PROJECT_DIR / "pages").glob("*.py")), *sorted((LIB / "ui").glob("*.py"))]


def store_imports(path: Path) -> list[str]:
    """The modules of lib.db that ``path`` imports, in any spelling (``from lib import db`` too)."""
    found = set(imported(path))
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return sorted(m for m in found if m == "lib.db" or m.startswith("lib.db."))


def test_screens_reach_the_store_only_through_the_steps_entry_modules() -> None:
    """Pages and lib/ui call one entry module per step (lib.curate.datasets, lib.judge.runs, lib.train.jobs,
    lib.retrieve.knowledge, lib.price.overrides), never lib.db; only store_view configures the store itself."""
    found = {str(path.relative_to(PROJECT_DIR)): store_imports(path) for path in screens()}
    assert len(found) > 20 and "lib.db.connection" in found.pop("lib/ui/store_view.py")  # configures the store
    assert {file: modules for file, modules in found.items() if modules} == {}
