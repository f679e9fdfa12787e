"""What the deeper views show about a checkpoint, as numbers (for the model card and notes).

    python scripts/analyze_model.py [--checkpoint P] assets/examples/*.mid
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from midi_rae.checkpoint import load_model  # noqa: E402
from midi_rae.inference import encode_piece  # noqa: E402
from midi_rae.pianoroll import midi_to_roll  # noqa: E402
from midi_rae.probes import probe  # noqa: E402
from midi_rae.structure import pooled_windows, self_similarity, spectrum  # noqa: E402


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--checkpoint", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    b = load_model(a.checkpoint)
    shifts, semis = list(range(-16, 17)), list(range(-12, 13))
    t_al, t_sp, p_al, p_sp, n90, erank, offsim = [], [], [], [], [], [], []
    for f in a.files:
        roll = midi_to_roll(f, steps_per_beat=b.config.get("steps_per_beat") or 4)
        enc = encode_piece(b.encoder, roll)  # the one windowing rule: one bar apart
        embs, nes, starts = enc.level_emb, enc.level_non_empty, enc.starts
        n90.append([spectrum(e)["n90"] for e in embs])
        erank.append([spectrum(e)["effective_rank"] for e in embs])
        sims = [self_similarity(pooled_windows(e, ne)) for e, ne in zip(embs, nes)]
        offsim.append([float(s[~np.eye(len(s), dtype=bool)].mean()) if len(s) > 1 else np.nan for s in sims])
        for start in starts[:: max(len(starts) // 4, 1)][:4]:
            t = probe(b.encoder, roll.array, int(start), shifts, "time")
            p = probe(b.encoder, roll.array, int(start), semis, "pitch")
            t_al.append(t["aligned"]); t_sp.append(t["same_position"])
            p_al.append(p["aligned"]); p_sp.append(p["same_position"])
    L = b.num_levels

    def mean_over(arrs, shift_list, pick):
        m = np.nanmean(np.stack(arrs), axis=0)  # (S, L)
        rows = [i for i, k in enumerate(shift_list) if pick(k)]
        return [round(float(v), 3) for v in np.nanmean(m[rows], axis=0)]

    out = {
        "files": [Path(f).name for f in a.files], "levels": L,
        "time_same_position_mean_nonzero": mean_over(t_sp, shifts, lambda k: k != 0),
        "time_same_position_at_1": mean_over(t_sp, shifts, lambda k: abs(k) == 1),
        "time_same_position_at_16": mean_over(t_sp, shifts, lambda k: abs(k) == 16),
        "time_aligned_at_16": mean_over(t_al, shifts, lambda k: abs(k) == 16),
        "time_aligned_at_4": mean_over(t_al, shifts, lambda k: abs(k) == 4),
        "pitch_same_position_mean_nonzero": mean_over(p_sp, semis, lambda k: k != 0),
        "pitch_same_position_at_1": mean_over(p_sp, semis, lambda k: abs(k) == 1),
        "pitch_same_position_at_12": mean_over(p_sp, semis, lambda k: abs(k) == 12),
        "pitch_aligned_at_4": mean_over(p_al, semis, lambda k: abs(k) == 4),
        "components_for_90pct": np.round(np.mean(n90, axis=0), 1).tolist(),
        "effective_rank": np.round(np.mean(erank, axis=0), 2).tolist(),
        "window_self_similarity_offdiag_mean": np.round(np.nanmean(offsim, axis=0), 3).tolist(),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
