#!/usr/bin/env bash
# The GPU runs of issue 13 (2026-12-04, one H200, three runs side by side for 8 minutes, then two for 3.2):
# batch 512 instead of 32, on the 2,692 files of assets/training_files_default.txt (the corpus export minus the
# collections of assets/corpus/midi and trecento, which stay untouched). gB is the shipped default.
# usage: CORPUS=/path/to/export [PY=python3] scripts/train_gpu_runs.sh gA|gB|gC|gD|gE [extra train flags...]
set -euo pipefail
name=$1; shift
aug="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12
 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1"
ft="--init assets/hierarchy.safetensors --lr 1e-3 --warmup-steps 100 --minutes 8"
case $name in
  gA) opts="$ft --skip-drop 0.5 --skip-drop-levels 4 --seed 0" ;;                         # the hierarchy recipe
  gB) opts="$ft --masked-fraction 0.25 --seed 0" ;;                                       # ftY's recipe
  gC) opts="--lr 2e-3 --warmup-steps 300 --minutes 8 --skip-drop 0.5 --skip-drop-levels 4 --seed 0" ;;  # from scratch
  # gD, gE continue gB (INIT=runs/gB/last.safetensors) with a sixth / a quarter of the windows masked; their seed 1
  # splits the files differently from gB's, so their own recorded test split is not untouched
  gD) opts="--init ${INIT:-runs/gB/last.safetensors} --lr 5e-4 --warmup-steps 50 --minutes 3.2 --masked-fraction 0.15 --seed 1" ;;
  gE) opts="--init ${INIT:-runs/gB/last.safetensors} --lr 5e-4 --warmup-steps 50 --minutes 3.2 --masked-fraction 0.25 --seed 1" ;;
  *) echo "unknown run $name" >&2; exit 2 ;;
esac
exec ${PY:-.venv/bin/python} -m midi_rae train --midi-dir "${CORPUS:?CORPUS=the folder of the corpus export}" \
  --files-from assets/training_files_default.txt --out runs/$name --min-lr 5e-5 --max-steps 1000000 \
  --batch-size 512 --val-every 400 --ckpt-every 200 --val-windows 512 --workers ${WORKERS:-4} --threads 1 \
  $aug $opts "$@"
