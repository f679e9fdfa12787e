"""Packaging: the dependencies are said once (pyproject.toml), every import is declared, every asset is package
data, and a fresh non-editable install works (scripts/check_install.sh, also run by .ci/run)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# import names that differ from their distribution's name
DISTRIBUTION = {"umap": "umap-learn", "PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(package_dir) -> set[str]:
    """Top-level names of the modules imported anywhere in a package (relative imports left out)."""
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_of_the_package_is_declared():
    third_party = {n for n in _imports(ROOT / "midi_rae") if n not in sys.stdlib_module_names and n != "midi_rae"}
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    declared |= {_name(r) for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra}
    undeclared = sorted(n for n in third_party if DISTRIBUTION.get(n, n).lower().replace("_", "-") not in declared)
    assert undeclared == []


def test_requirements_files_only_install_the_package():
    lines = lambda name: [ln.strip() for ln in (ROOT / name).read_text().splitlines()  # noqa: E731
                          if ln.strip() and not ln.startswith("#")]
    assert lines("requirements.txt") == ["-e ."]
    assert lines("requirements-dev.txt") == ["-e .[test,train]"]


def test_every_shipped_asset_is_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["midi_rae.assets"]
    assets = ROOT / "assets"
    shipped = {p for pattern in patterns for p in assets.glob(pattern)}  # setuptools' glob, relative to assets/
    assert assets / "default.safetensors" in shipped
    assert sorted(str(p.relative_to(assets)) for p in assets.rglob("*") if p.is_file() and p not in shipped) == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_fresh_non_editable_install_works_outside_the_checkout():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "check_install.sh")], capture_output=True, text=True,
                         timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "fresh install OK" in out.stdout


def test_every_script_imports():
    """The scripts the README's commands run import what they name (a rename in one broke another before)."""
    scripts = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))
    code = ("import importlib, sys\n"
            f"sys.path[:0] = [{str(ROOT / 'scripts')!r}, {str(ROOT / 'tests')!r}]\n"
            f"for name in {scripts!r}:\n"
            "    importlib.import_module(name)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
