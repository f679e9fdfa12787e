#!/usr/bin/env bash
# A fresh, non-editable install (`pip install .`) into a new virtual environment, used from outside the checkout:
# the shipped checkpoint loads through midi_rae.load_model(), its assets are installed, the midi-rae command
# answers, inspect runs end to end on an installed example, and the dashboard's script is installed.
# Run by .ci/run after the tests; `python -m pytest -m slow tests/test_packaging.py` runs it too.
# PYTHON picks the interpreter (default python3); KEEP=1 keeps the temporary folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
T="$(mktemp -d "${TMPDIR:-/tmp}/midi-rae-install.XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$T"' EXIT
start=$SECONDS

# a copy of the project's files (tracked, and untracked but not ignored): nothing of the checkout's .venv,
# build/ or *.egg-info can leak into the install, and the install leaves nothing in the checkout
"$PY" - "$ROOT" "$T/src" <<'PYEOF'
import shutil, subprocess, sys
from pathlib import Path
root, dst = Path(sys.argv[1]), Path(sys.argv[2])
try:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    names = [n for n in out.split("\0") if n]
except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but the usual build debris
    skip = {".git", ".venv", "build", "runs", "data", "__pycache__", ".pytest_cache"}
    names = [str(p.relative_to(root)) for p in root.rglob("*")
             if p.is_file() and not skip & set(p.relative_to(root).parts) and ".egg-info" not in str(p)]
for n in names:
    if (root / n).is_file():  # skips files deleted in the working tree
        (dst / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / n, dst / n)
PYEOF

"$PY" -m venv "$T/venv"
"$T/venv/bin/pip" install -q --disable-pip-version-check "$T/src"
echo "installed in $((SECONDS - start)) s"

cd "$T"  # outside the checkout: only the installed package can be imported
"$T/venv/bin/python" - "$T/src" <<'PYEOF'
import sys
from pathlib import Path

import midi_rae
from midi_rae.checkpoint_meta import ASSETS, DEFAULT_CHECKPOINT

src = Path(sys.argv[1])
pkg = Path(midi_rae.__file__).resolve().parent
assert "site-packages" in pkg.parts, f"midi_rae imported from {pkg}, not from the installed package"
assert ASSETS == pkg / "assets", f"assets looked for in {ASSETS}"
for name in ("default.safetensors", "MODEL_CARD.md", "training_files.txt"):
    assert (ASSETS / name).is_file(), f"{name} is not installed"
examples = sorted(p.name for p in (ASSETS / "examples").glob("*.mid"))
assert examples == sorted(p.name for p in (src / "assets" / "examples").glob("*.mid")), examples
if (src / "midi_rae" / "dashboard" / "main.py").is_file():
    assert (pkg / "dashboard" / "main.py").is_file(), "the dashboard's script is not installed"
    missing = sorted(p.name for p in (src / "midi_rae" / "dashboard").glob("*.py") if not (pkg / "dashboard" / p.name).is_file())
    assert not missing, f"dashboard modules not installed: {missing}"
b = midi_rae.load_model()
assert b.decoder is not None and b.source, b
print(f"load_model(): {b.encoder.num_stages} levels from {DEFAULT_CHECKPOINT}")
PYEOF

"$T/venv/bin/midi-rae" --help >/dev/null
"$T/venv/bin/midi-rae" app --help >/dev/null
example="$(ls "$T"/venv/lib/python*/site-packages/midi_rae/assets/examples/*.mid | head -1)"
"$T/venv/bin/midi-rae" inspect "$example" --json | "$T/venv/bin/python" -c \
  "import json, sys; r = json.load(sys.stdin); assert r['levels'] and r['reconstruction'], r; print('inspect:', len(r['levels']), 'levels')"
echo "fresh install OK in $((SECONDS - start)) s"
