"""One self-contained HTML report of a piece under a checkpoint.

Sections: roll, masks, reconstruction, PCA, self-similarity, spectrum, shift/transpose probe.

The page embeds plotly.js once and needs no network to be viewed.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
import plotly.graph_objects as go
import torch

from . import __version__
from .analysis import (encode_levels, level_stats, masks_for, patch_mask_to_pixels, pca_fit, reconstruct_probs,
                       reconstruction_metrics)
from .checkpoint import ModelBundle, load_model
from .figures import (level_masks, pca_scatter, probe_lines, reconstruction_row, roll_overview, similarity_matrix,
                      spectrum_plot, trajectory, window_roll)
from .pianoroll import PianoRoll, midi_to_roll, song_hop, windows
from .probes import probe, shifted_window
from .structure import pooled_windows, self_similarity, spectrum

__all__ = ["SECTIONS", "build_report", "write_report"]

MAX_PCA_POINTS = 3000    # per level scatter; beyond this the HTML grows without showing more
TIME_SHIFTS = list(range(-16, 17))
PITCH_SHIFTS = list(range(-12, 13))
SECTIONS = {"roll": "Piano roll", "masks": "Non-empty patches per level", "recon": "Masked reconstruction",
            "pca": "Embeddings (PCA per level)", "similarity": "Self-similarity per level",
            "spectrum": "Spectrum", "probe": "Shift and transpose probe"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1500px;
       color: #1f2937; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { font-size: 14px; margin: 12px 0 4px; }
p.note { color: #555; font-size: 13px; margin: 4px 0 8px; max-width: 1100px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f5f5f5; } td.l, th.l { text-align: left; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px 16px; }
.grid3 { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px 16px; }
nav a { margin-right: 12px; font-size: 13px; }
"""


@dataclass
class _Figures:
    """Turns figures into <div>s; only the first one carries plotly.js, inline."""

    count: int = 0
    config: dict = field(default_factory=lambda: {"displaylogo": False, "responsive": True})

    def __call__(self, fig: go.Figure) -> str:
        self.count += 1
        return fig.to_html(full_html=False, include_plotlyjs=self.count == 1, config=self.config,
                           default_width="100%")


def _fmt(v) -> str:
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def _table(rows: list[dict], left: tuple[str, ...] = ()) -> str:
    """An HTML table from a list of same-keyed dicts; columns in `left` are left-aligned."""
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(c)}</th>' for c in cols)
    body = "".join("<tr>" + "".join(f'<td class="{"l" if c in left else ""}">{_fmt(r[c])}</td>' for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(key: str, *parts: str) -> str:
    return f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _grids(embs: list[np.ndarray]) -> list[int]:
    return [int(round(math.sqrt(e.shape[1]))) for e in embs]


# ---------------------------------------------------------------------------------------------
# Sections

def _header(roll: PianoRoll, bundle: ModelBundle, midi: str, grids: list[int], dims: list[int]) -> str:
    cfg = bundle.config
    step = bundle.meta.get("step")
    rows = [
        {"": "Piece", "value": f"{roll.name} ({Path(midi).name}): {roll.n_notes:,} notes, {roll.bars:.1f} bars of "
                               f"{roll.time_signature[0]}/{roll.time_signature[1]}, {roll.duration_s:.1f} s, "
                               f"{roll.tempo_bpm:.0f} BPM, {roll.steps_per_beat} steps per beat"},
        {"": "Checkpoint", "value": bundle.source + (f" (training step {step})" if step is not None else "")},
        {"": "Model", "value": f"{len(grids)} levels, grids {', '.join(f'{g}×{g}' for g in grids)}; dims "
                               f"{', '.join(map(str, dims))}; decoder: {cfg.get('decoder_type') or 'none'}"},
        {"": "Config", "value": json.dumps({k: cfg[k] for k in sorted(cfg) if k != "source_format"})},
        {"": "Created", "value": f"{datetime.now().astimezone().isoformat(timespec='seconds')} by midi_rae "
                                 f"{__version__}"},
    ]
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in SECTIONS.items())
    return (f"<h1>midi_rae report: {html.escape(roll.name)}</h1>" + _table(rows, left=("", "value"))
            + f"<nav>{nav}</nav>")


def _recon_section(bundle: ModelBundle, x: torch.Tensor, image: np.ndarray, mask_ratio: float, emr: float,
                   seed: int, threshold: float, fig) -> str:
    if bundle.decoder is None:
        return _section("recon", _note("This checkpoint holds an encoder only, so there is no reconstruction; "
                                       "pass --decoder FILE to add one."))
    enc = bundle.encoder
    grid, patch = enc.grid_size, (enc.patch_h, enc.patch_w)
    mask = masks_for(enc, x, mask_ratio, emr, seed)
    probs = reconstruct_probs(bundle, x, mask)
    metrics = reconstruction_metrics(x, probs, mask, threshold, grid, patch)
    hidden = ~patch_mask_to_pixels(mask, grid, patch)[0, 0].numpy()
    p = probs[0, 0].numpy()
    binary = np.where(hidden, p > threshold, image > 0)
    rows = []
    for key, label in (("masked", "Masked patches"), ("all", "All patches (visible pasted back)"),
                       ("all_raw", "All patches (raw decoder output)")):
        m = metrics[key]
        rows.append({"": label, "Precision": m["precision"], "Recall": m["recall"], "F1": m["f1"],
                     "Specificity": m["specificity"], "Note pixels": m["tp"] + m["fn"]})
    text = (f"{int((~mask).sum())} of {mask.numel()} finest patches hidden (mask ratio {mask_ratio:.2f}, empty "
            f"mask ratio {emr:.2f}, seed {seed}); threshold {threshold:.2f}.")
    return _section("recon", _note(text), fig(reconstruction_row(image, hidden, p, binary, threshold)),
                    _table(rows, left=("",)))


def _pca_section(embs: list[np.ndarray], nes: list[np.ndarray], starts: np.ndarray, spbar: int, fig) -> str:
    grids = _grids(embs)
    rng = np.random.default_rng(0)
    parts = []
    for k, (emb, ne) in enumerate(zip(embs, nes)):
        W, N, D = emb.shape
        g, size = grids[k], 128 // grids[k]
        pca = pca_fit(emb.reshape(-1, D), k=2)
        idx = np.arange(W * N)
        if idx.size > MAX_PCA_POINTS:
            idx = np.sort(rng.choice(idx, MAX_PCA_POINTS, replace=False))
        w, n = np.divmod(idx, N)
        bar = (starts[w] + (n % g) * size) / spbar + 1
        coords = pca.transform(emb.reshape(-1, D)[idx])
        hover = [f"window {wi + 1} · patch {ni} · bar {b:.4g}" for wi, ni, b in zip(w, n, bar)]
        ratio = ", ".join(f"{100 * r:.0f}%" for r in pca.explained_ratio)
        scatter = pca_scatter(coords, bar, "bar", hover=hover, dims=2,
                              title=f"Level {k} ({g}×{g}, dim {D}): patches<br><sup>{W * N:,} patches"
                                    + (f", {len(idx):,} drawn" if len(idx) < W * N else "")
                                    + f"; PC1, PC2 explain {ratio}</sup>")
        scatter.update_layout(margin=dict(t=60))  # room for the two-line title
        # Linear, so projecting the pooled vector equals pooling the projected patches.
        path = pca.transform(pooled_windows(emb, ne))
        wbars = starts / spbar + 1
        traj = trajectory(path, wbars, title=f"Level {k}: windows in time order<br><sup>each the mean of its "
                                             f"non-empty patches, {W} windows</sup>",
                          hover=[f"window {i + 1} · from bar {b:.4g}" for i, b in enumerate(wbars)])
        traj.update_layout(margin=dict(t=60))
        parts.append(f'<div class="grid2">{fig(scatter)}{fig(traj)}</div>')
    return _section("pca", _note("PCA of each level's patch embeddings over all windows of the piece, coloured by "
                                 "the bar where the patch starts (left), and the path of the windows' mean "
                                 "non-empty embedding through the same two components (right)."), *parts)


def _similarity_section(embs: list[np.ndarray], nes: list[np.ndarray], starts: np.ndarray, spbar: int,
                        fig) -> str:
    grids = _grids(embs)
    labels = [f"bar {s / spbar + 1:.4g}" for s in starts]
    figs = [fig(similarity_matrix(self_similarity(pooled_windows(e, ne)), labels,
                                  title=f"Level {k} ({grids[k]}×{grids[k]})"))
            for k, (e, ne) in enumerate(zip(embs, nes))]
    return _section("similarity", _note("Cosine similarity between windows, each window the mean of its non-empty "
                                        "patches at that level; axes give the bar each window starts at. Repeats "
                                        "in the music show as bright off-diagonal stripes."),
                    f'<div class="grid3">{"".join(figs)}</div>')


def _spectrum_section(embs: list[np.ndarray], fig) -> str:
    grids = _grids(embs)
    specs = [spectrum(e) for e in embs]
    rows = [{"Level": k, "Grid": f"{grids[k]}×{grids[k]}", "Dim": e.shape[-1], "Points": e.shape[0] * e.shape[1],
             "PC1 %": 100 * float(s["explained_ratio"][0]) if len(s["explained_ratio"]) else float("nan"),
             "Components for 90%": s["n90"], "Effective rank": s["effective_rank"]}
            for k, (e, s) in enumerate(zip(embs, specs))]
    for r in rows:
        r["PC1 %"] = f"{r['PC1 %']:.1f}"
        r["Effective rank"] = f"{r['Effective rank']:.2f}"
    return _section("spectrum", _note("Singular values of each level's centred embedding matrix (all patches of "
                                      "all windows). Few components reaching 90% means a low-dimensional, "
                                      "possibly collapsed, level."),
                    fig(spectrum_plot(specs, title="Spectrum per level", grids=grids)), _table(rows))


def _probe_section(bundle: ModelBundle, roll: PianoRoll, start: int, grids: list[int], fig) -> str:
    t = probe(bundle.encoder, roll.array, start, TIME_SHIFTS, axis="time")
    p = probe(bundle.encoder, roll.array, start, PITCH_SHIFTS, axis="pitch")
    figs = [fig(probe_lines(t["shifts"], t["aligned"], "Time shift: aligned patches (equivariance)",
                            "shift (steps)", grids)),
            fig(probe_lines(t["shifts"], t["same_position"], "Time shift: same position (invariance)",
                            "shift (steps)", grids)),
            fig(probe_lines(p["shifts"], p["aligned"], "Transposition: aligned patches (equivariance)",
                            "transposition (semitones)", grids)),
            fig(probe_lines(p["shifts"], p["same_position"], "Transposition: same position (invariance)",
                            "transposition (semitones)", grids))]
    return _section("probe", _note(
        "The window is moved by k steps (time) or k semitones (pitch) and both are encoded unmasked. Each point is "
        "the mean cosine similarity over the original's non-empty patches. Aligned: a patch of side s is compared "
        "with the patch that now holds the same content, where k is a multiple of s (elsewhere it falls back to "
        "the same position). Same position: each patch against the patch at the same place."),
        f'<div class="grid2">{"".join(figs)}</div>')


# ---------------------------------------------------------------------------------------------
# Entry points

@torch.no_grad()
def build_report(midi: str | Path, checkpoint: Optional[str] = None, decoder: Optional[str] = None,
                 mask_ratio: float = 0.5, empty_mask_ratio: Optional[float] = None, seed: int = 0,
                 start_bar: int = 1, steps_per_beat: Optional[int] = None,
                 threshold: Optional[float] = None) -> str:
    """The report's HTML text (raises MidiError or CheckpointError for unusable input)."""
    bundle = load_model(checkpoint, decoder=decoder)
    spb = steps_per_beat or bundle.config.get("steps_per_beat") or 4
    roll = midi_to_roll(midi, steps_per_beat=spb)
    enc = bundle.encoder
    width = enc.grid_size[1] * enc.patch_w
    spbar = max(roll.steps_per_bar, 1)

    # The whole piece, one window per bar (fewer for long pieces), as the dashboard encodes it.
    hop = song_hop(roll.steps, spbar, width)
    xs, starts = windows(roll, width=width, hop=hop)
    embs, nes = encode_levels(enc, xs, batch_size=32)
    grids = _grids(embs)

    # The window under study, starting at a bar as the dashboard's slider does.
    n_start_bars = max(1, -(-roll.steps // spbar))
    start = (min(max(int(start_bar), 1), n_start_bars) - 1) * spbar
    image = shifted_window(roll.array, start, width, 0, "time")
    x = torch.from_numpy(image)[None, None]
    _, win_ne = encode_levels(enc, x)
    emr = bundle.config.get("empty_mask_ratio", 0.05) if empty_mask_ratio is None else empty_mask_ratio
    thr = threshold if threshold is not None else float(bundle.meta.get("threshold", 0.5))

    fig = _Figures()
    stats = level_stats(nes)
    stat_rows = [{"Level": k, "Grid": f"{g}×{g}", "Patch (steps × semitones)": f"{128 // g}×{128 // g}",
                  "Dim": embs[k].shape[-1], "This window %": f"{100 * float(win_ne[k].mean()):.1f}",
                  "Piece mean %": f"{s['mean']:.1f}", "Std %": f"{s['std']:.1f}", "Min %": f"{s['min']:.1f}",
                  "Max %": f"{s['max']:.1f}"} for k, (g, s) in enumerate(zip(grids, stats))]
    window_title = f"Window: {width} steps from bar {start // spbar + 1}"
    parts = [
        _header(roll, bundle, str(midi), grids, [e.shape[-1] for e in embs]),
        _section("roll", fig(roll_overview(roll.array, spbar, (start, width),
                                           title=f"{roll.name}: whole piece ({roll.bars:.0f} bars)")),
                 fig(window_roll(image, start, roll.steps_per_beat, roll.beats_per_bar, title=window_title))),
        _section("masks", _note(f"A patch is non-empty when any of its pixels holds a note. Piece statistics use "
                                f"the piece's {len(starts)} windows, {hop // spbar} bar(s) apart."),
                 fig(level_masks([ne.reshape(g, g) for ne, g in zip(win_ne, grids)], image)),
                 _table(stat_rows)),
        _recon_section(bundle, x, image, mask_ratio, emr, seed, thr, fig),
        _pca_section(embs, nes, starts, spbar, fig),
        _similarity_section(embs, nes, starts, spbar, fig),
        _spectrum_section(embs, fig),
        _probe_section(bundle, roll, start, grids, fig),
    ]
    title = html.escape(f"midi_rae report: {roll.name}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(out: str | Path, midi: str | Path, **kwargs) -> Path:
    """Write build_report(midi, **kwargs) to `out` and return its path."""
    text = build_report(midi, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
