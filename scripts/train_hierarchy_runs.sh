#!/usr/bin/env bash
# The fine-tuning runs compared for the second shipped model (issue 13). Each starts from the shipped default
# (--init), trains on the same files, and can be continued with the same command plus --resume runs/NAME.
# usage: scripts/train_hierarchy_runs.sh NAME [extra train flags...]
set -euo pipefail
name=$1; shift
case $name in
  ftA) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12" ;;
  ftB) opts="--skip-drop 0.5 --skip-drop-levels 4" ;;
  ftC) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4" ;;
  ftD) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4 --coarse-targets 1.0 --coarse-target-levels 3" ;;
  ftE) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1" ;;
  # ftF continues the hierarchy model (INIT=assets/hierarchy.safetensors): level 3, whose grid fits one attention
  # window and so sees the whole window, is zeroed for the decoder in 3 of 4 windows, so levels 0-2 carry that view
  ftF) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --lateral-drop 0.75 --lateral-drop-levels 3" ;;
  # ftG continues the hierarchy model on its corpus plus the corpus's dense ensemble and keyboard music
  # (CORPUS=a folder holding both, FILES= to read every file in it): the recipe of ftE, only the data differs
  ftG) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1" ;;
  # ftH continues the hierarchy model with a quarter of the windows masked instead of half and note pixels weighted
  # like the rest: 4 minutes of unmasked-only training lifted unseen corpus windows' unmasked F1 0.955 -> 0.984, so
  # the masked objective, not capacity, keeps the reconstruction of short notes and gaps blurred
  ftH) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --skip-drop 0.5 --skip-drop-levels 4 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.25 --pos-weight 1.0" ;;
  # ftU: no masked windows at all (INIT=assets/hierarchy.safetensors, 10 minutes): real MIDI unmasked 0.92 -> 0.98,
  # masked 0.56 -> 0.22. ftV and ftW continue ftU (INIT=runs/ftU/last.safetensors) with masked windows back, without
  # skip-drop, to learn whether the masked task returns while the unmasked reconstruction stays sharp
  ftU) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --masked-fraction 0.0" ;;
  ftV) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.5" ;;
  ftW) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.25" ;;
  # ftX continues ftW (INIT=runs/ftW/last.safetensors) with its recipe and a fresh schedule: does the masked F1 come back?
  ftX) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.25" ;;
  # ftY continues ftX (INIT=runs/ftX/last.safetensors) the same way for 60 minutes: do both figures keep rising?
  ftY) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.25" ;;
  # ftZ continues ftY (INIT=runs/ftY/last.safetensors) with the soft-F1 (dice) term on masked pixels four times as
  # strong: does the masked F1 at threshold 0.5 rise where the BCE leaves hidden notes under-filled?
  ftZ) opts="--articulate 0.5 --time-compress 0.25 --superpose 0.3 --octave-double 0.2 --max-transpose 12 --coarse-targets 1.0 --coarse-target-levels 3 --coarse-spread 0.1 --masked-fraction 0.25 --dice-weight 2.0" ;;
  *) echo "unknown run $name" >&2; exit 2 ;;
esac
C=${CORPUS:-/work/data/corpus}
FILES=${FILES-assets/training_files.txt}   # FILES= (empty) trains on every file under CORPUS
exec nice -n 19 .venv/bin/python -m midi_rae train --midi-dir "$C" ${FILES:+--files-from "$FILES"} \
  --out runs/${OUT:-$name} --init ${INIT:-assets/first.safetensors} --lr 5e-4 --min-lr 5e-5 --warmup-steps 50 \
  --minutes ${MINUTES:-50} --max-steps 1000000 --batch-size 32 --val-every 200 --ckpt-every 50 --val-windows 256 \
  --threads 1 --workers 1 --seed 0 $opts "$@"
