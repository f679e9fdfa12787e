"""How much a checkpoint uses its coarse levels, on a set of MIDI files (issue 13's hierarchy targets).

Per level, averaged over the pieces (weighted by their windows where noted):
- effective rank of the level's unmasked embeddings (`structure.spectrum` over `inference.encode_piece`), per
  piece then averaged, as scripts/analyze_model.py and the model card measure it;
- the ablation cost (`ablation.ablate_piece`, mode "mean"): F1 lost, unmasked and masked (ratio 0.5, seed 0,
  threshold 0.5 unless --threshold), weighted by the pieces' windows.

    python scripts/measure_hierarchy.py --checkpoint CKPT FILES... [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from midi_rae.ablation import ablate_piece  # noqa: E402
from midi_rae.checkpoint import load_model  # noqa: E402
from midi_rae.inference import encode_piece, settings_for  # noqa: E402
from midi_rae.pianoroll import MidiError, midi_to_roll  # noqa: E402
from midi_rae.structure import spectrum  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--mask-ratio", type=float, default=0.5)
    p.add_argument("--max-windows", type=int, default=120, help="skip the ablation of pieces longer than this")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)
    bundle = load_model(a.checkpoint)
    settings = settings_for(bundle, a.mask_ratio, None, 0, a.threshold)
    spb = bundle.model_config.steps_per_beat or 4
    ranks, drops_p, drops_m, weights, base_p, base_m = [], [], [], [], [], []
    for f in a.files:
        try:
            roll = midi_to_roll(f, steps_per_beat=spb)
        except MidiError:
            continue
        with torch.no_grad():
            enc = encode_piece(bundle.encoder, roll)
        if enc.n_windows < 2:
            continue
        ranks.append([spectrum(e)["effective_rank"] for e in enc.level_emb])
        if enc.n_windows > a.max_windows:
            continue
        res = ablate_piece(bundle, roll, "mean", settings, piece=enc)
        drops_p.append([res.drop("plain", k) for k in res.levels])
        drops_m.append([res.drop("masked", k) for k in res.levels])
        base_p.append(res.f1("plain"))
        base_m.append(res.f1("masked"))
        weights.append(res.windows)
    w = np.asarray(weights, float)
    out = {"checkpoint": bundle.source, "pieces": len(ranks), "ablated_pieces": len(weights),
           "ablated_windows": int(w.sum()), "threshold": a.threshold,
           "effective_rank": np.round(np.mean(ranks, axis=0), 2).tolist(),
           "f1_none": {"plain": round(float(np.average(base_p, weights=w)), 4),
                       "masked": round(float(np.average(base_m, weights=w)), 4)},
           "ablation_drop_plain": np.round(np.average(np.nan_to_num(drops_p), axis=0, weights=w), 4).tolist(),
           "ablation_drop_masked": np.round(np.average(np.nan_to_num(drops_m), axis=0, weights=w), 4).tolist()}
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
