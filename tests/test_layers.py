"""The package layout is the architecture: dsbench's subpackages import one way only.

cli → report → regress → claims → bench → profiler → core. A module may import its own layer
and any layer to its right, never one to its left; ``simulators`` and ``workloads`` import no
dsbench at all (DESIGN.md). Read from the source with :mod:`ast`, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "profiler", "bench", "claims", "regress", "report", "cli"]


def _imports(path: Path) -> set[str]:
    """Every absolute ``dsbench...`` module named by an import statement in ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dsbench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "dsbench":
                found |= {f"dsbench.{a.name}" for a in node.names}
            elif node.module.startswith("dsbench."):
                found.add(node.module)
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_run_one_way(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    bad = []
    for path in _modules(f"dsbench/{layer}"):
        for module in _imports(path):
            target = _layer(module)
            if module != "dsbench.__version__" and target not in allowed | {None}:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
            if target is None and module not in {"dsbench", "dsbench.__version__"}:
                bad.append(f"{path.relative_to(ROOT)} imports {module}, outside every layer")
    assert not bad, "\n".join(bad)


def test_no_flat_modules_beside_the_layers():
    flat = [p.name for p in (ROOT / "dsbench").glob("*.py") if p.name != "__init__.py"]
    assert not flat, f"modules outside a layer: {flat}"


@pytest.mark.parametrize("package", ["simulators", "workloads"])
def test_libraries_import_no_dsbench(package):
    bad = [str(p.relative_to(ROOT)) for p in _modules(package) if _imports(p)]
    assert not bad, bad
