"""A hash of every roll a reading rule gives, to compare two checkouts' MIDI reading (numbers for the README and
notes; not a test).

    python scripts/roll_hashes.py /tmp/before FOLDER before.json [--every 1]
    python scripts/roll_hashes.py . FOLDER after.json
    python scripts/roll_hashes.py --compare before.json after.json

Each MIDI file under FOLDER (every `every`-th in path order) is read by CHECKOUT's own `midi_rae` at 4 and 12 steps
per beat; the md5 of its notes and onsets, its length in steps and its grid warning are written as JSON.
`--compare` lists the rolls that differ.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def hashes(checkout: str, folder: str, every: int) -> dict:
    """{"path|spb": [md5, steps, grid note] or ["error", sentence]} for every `every`-th file under `folder`."""
    sys.path.insert(0, str(Path(checkout).resolve()))
    from midi_rae.pianoroll import MidiError, midi_to_roll

    out = {}
    for f in sorted(Path(folder).rglob("*.mid"))[::every]:
        for spb in (4, 12):
            try:
                r = midi_to_roll(f, spb)
                out[f"{f}|{spb}"] = [hashlib.md5(r.array.tobytes() + r.onsets.tobytes()).hexdigest(), r.steps,
                                     r.grid_note]
            except MidiError as e:
                out[f"{f}|{spb}"] = ["error", str(e)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("args", nargs="+", help="CHECKOUT FOLDER OUT.json, or with --compare: BEFORE.json AFTER.json")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--compare", action="store_true")
    a = ap.parse_args()
    if a.compare:
        before, after = (json.loads(Path(p).read_text()) for p in a.args[:2])
        changed = [k for k in before if before[k] != after.get(k)]
        print(f"{len(before)} rolls; {len(changed)} differ")
        for k in changed:
            print(f"{k}: {before[k][1:]} -> {after.get(k, [None])[1:]}")
        return
    checkout, folder, out = a.args[:3]
    result = hashes(checkout, folder, a.every)
    Path(out).write_text(json.dumps(result, indent=0))
    print(f"{len(result)} rolls written to {out}")


if __name__ == "__main__":
    main()
