"""The package reads as the paper's pipeline: imports run downward, and the student API stays light."""

from __future__ import annotations

import ast
from pathlib import Path

from fer_kit.config import PACKAGE_DIR

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "labels", "presets", "config", "atomic", "workers", "progress", "logs"),
    ("images", "executors"),
    ("face",),
    ("clips", "datasets"),
    ("model",),
    ("training",),
    ("viz",),
    ("evaluate", "predict"),
    ("crossval",),
    ("course", "environment"),
    ("grading",),
    ("cli",),
)
"""Lowest first: a module may import from its own layer and the layers below it, never above."""

LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE_DIR.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file())) and p.stem != "__init__"}
    assert parts == set(LEVEL), f"give {sorted(parts - set(LEVEL))} a layer (or drop {sorted(set(LEVEL) - parts)})"


def test_imports_run_downward() -> None:
    upward = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR)
        here = relative.parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("fer_kit."):
                there = _part(node.module)
                if LEVEL[there] > LEVEL[here]:
                    upward.append(f"{relative}:{node.lineno} imports {node.module}")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_no_module_of_the_kit_is_a_test_fixture() -> None:
    names = {p.stem for p in Path(PACKAGE_DIR).rglob("*.py")}
    assert not names & {"toyclips", "conftest", "fixtures"}
