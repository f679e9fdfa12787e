"""CPU time and peak memory of reading MIDI files into piano rolls (numbers for the README; not a test).

    python scripts/bench_parse.py /work/data/m21 --files 400 --checkout /tmp/before --checkout . --rounds 3

Each (round, checkout) runs in a fresh process that imports `midi_rae` from that checkout, reads the same files
(a seeded sample of the MIDI files under the folder) into memory, then times `midi_to_roll` on all of them; the
rounds interleave the checkouts so that a change in the machine's load hits each alike. One JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ONE_RUN = """
import glob, json, random, resource, sys, time
sys.path.insert(0, sys.argv[1])
from midi_rae.pianoroll import MidiError, midi_to_roll
paths = sorted(glob.glob(sys.argv[2] + "/**/*.mid", recursive=True))
random.seed(int(sys.argv[4]))
paths = random.sample(paths, min(int(sys.argv[3]), len(paths)))
data = [open(p, "rb").read() for p in paths]
refused = 0
t = time.process_time()
for d in data:
    try:
        midi_to_roll(d, steps_per_beat=4)
    except MidiError:
        refused += 1
cpu = time.process_time() - t
print(json.dumps({"checkout": sys.argv[1], "files": len(data), "refused": refused,
                  "cpu_ms_per_file": round(1e3 * cpu / max(len(data), 1), 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def main() -> None:
    """Parse the arguments and print one JSON line per run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--checkout", action="append", help="a checkout to import midi_rae from (repeatable; default .)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for _ in range(args.rounds):
        for checkout in args.checkout or ["."]:
            out = subprocess.run([sys.executable, "-c", ONE_RUN, str(Path(checkout).resolve()), args.folder,
                                  str(args.files), str(args.seed)], capture_output=True, text=True, check=True)
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
