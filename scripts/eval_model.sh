#!/usr/bin/env bash
# The held-out figures of a checkpoint at threshold 0.5 (issue 13; the model cards' commands), as JSON files in OUTDIR:
#   real_all.json            the 23 real MIDI files music21 ships outside its corpus
#   corpus_untouched.json    the 20 corpus pieces of assets/corpus/midi, which no shipped model trained on
#   hierarchy_real.json      level ablation costs and effective ranks (scripts/measure_hierarchy.py) on the real files
#   hierarchy_examples.json  the same on assets/examples/*.mid (as the model card's spectrum figures)
# usage: scripts/eval_model.sh CHECKPOINT OUTDIR
set -euo pipefail
ck=$1; out=$2; mkdir -p "$out"
PY="nice -n 19 .venv/bin/python"
M=$($PY -c 'import music21, os; print(os.path.dirname(music21.__file__))')
$PY -m midi_rae evaluate $M/midi/testPrimitive $M/omr --checkpoint "$ck" --threshold 0.5 --json > "$out/real_all.json"
$PY -m midi_rae evaluate assets/corpus/midi --checkpoint "$ck" --threshold 0.5 --json > "$out/corpus_untouched.json"
$PY scripts/measure_hierarchy.py --json --checkpoint "$ck" $M/midi/testPrimitive/*.mid $M/omr/*.mid > "$out/hierarchy_real.json"
$PY scripts/measure_hierarchy.py --json --checkpoint "$ck" assets/examples/*.mid > "$out/hierarchy_examples.json"
