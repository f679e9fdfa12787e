"""One self-contained HTML report of a piece under a checkpoint.

Sections: roll, masks, reconstruction, PCA, self-similarity, spectrum, shift/transpose probe.

The page embeds plotly.js once and needs no network to be viewed.
"""
from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
import plotly.graph_objects as go
import torch

from . import __version__
from .pca import pca_fit
from .checkpoint import ModelBundle, load_model
from .figures import (CHART_CONFIG, level_masks, pca_scatter, probe_lines, reconstruction_row, roll_overview,
                      similarity_matrix, spectrum_plot, trajectory, window_roll)
from .inference import (PieceEncoding, WindowAnalysis, analyse_window, encode_piece, level_rows,
                        metric_rows, patch_places, settings_for, spectrum_rows, windows_text)
from .pianoroll import PianoRoll, first_sounding_bar, start_bars, time_positions, time_unit
from .png_rolls import holds_png, read_roll_once
from .probes import probe
from .structure import pooled_windows, self_similarity, spectrum
from .wording import column_decimals, counted, fixed, printable, timing_text

__all__ = ["SECTIONS", "build_report", "write_report"]

MAX_PCA_POINTS = 3000    # per level scatter; beyond this the HTML grows without showing more
TIME_SHIFTS = list(range(-16, 17))
PITCH_SHIFTS = list(range(-12, 13))
SECTIONS = {"roll": "Piano roll", "masks": "Non-empty patches per level", "recon": "Masked reconstruction",
            "along": "F1 along the piece", "pca": "Embeddings (PCA per level)", "similarity": "Self-similarity per level",
            "spectrum": "Spectrum", "probe": "Shift and transpose probe", "ablation": "Level ablation",
            "phrases": "Phrase probe"}

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
    config: dict = field(default_factory=lambda: dict(CHART_CONFIG, responsive=True))

    def __call__(self, fig: go.Figure) -> str:
        self.count += 1
        return fig.to_html(full_html=False, include_plotlyjs=self.count == 1, config=self.config,
                           default_width="100%")


def _fmt(v, decimals: int = 3) -> str:
    if v is None:  # no value (a level of one point has no spread to measure)
        return "—"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return fixed(v, decimals)
    return html.escape(str(v))


def _table(rows: list[dict], left: tuple[str, ...] = ()) -> str:
    """An HTML table from a list of same-keyed dicts; columns in `left` are left-aligned; each column's numbers
    with the decimals it needs (at most 3)."""
    if not rows:
        return ""
    cols = list(rows[0])
    places = {c: column_decimals((r[c] for r in rows), scores=True) for c in cols}
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(c)}</th>' for c in cols)
    body = "".join("<tr>" + "".join(f'<td class="{"l" if c in left else ""}">{_fmt(r[c], places[c])}</td>'
                                    for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(key: str, *parts: str) -> str:
    return f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


# ---------------------------------------------------------------------------------------------
# Sections

def _header(roll: PianoRoll, bundle: ModelBundle, midi: str) -> str:
    cfg = bundle.config
    mc = bundle.model_config
    step = bundle.meta.get("step")
    rows = [
        {"": "Piece", "value": f"{printable(roll.name)} ({printable(Path(midi).name)}): {counted(roll.n_notes, 'note')}"
                               + (f" (and {roll.drum_notes:,} of drums, left out)" if roll.drum_notes else "") + " · "
                               + (f"{counted(roll.steps, 'step')} (a PNG roll: no tempo)" if holds_png(midi)
                                  else timing_text(roll))},  # the page's header, word for word
        *([{"": "Grid", "value": roll.grid_note}] if roll.grid_note else []),
        *([{"": "Read", "value": " ".join(roll.reading_notes)}] if roll.reading_notes else []),
        {"": "Checkpoint", "value": bundle.source + (f" (training step {step})" if step is not None else "")},
        {"": "Model", "value": f"{counted(mc.num_levels, 'level')}, grids {', '.join(f'{r}×{c}' for r, c in mc.level_grids)}; "
                               f"dims {', '.join(map(str, mc.level_dims))}; decoder: "
                               f"{cfg.get('decoder_type') or 'none'}"},
        {"": "Config", "value": json.dumps({k: cfg[k] for k in sorted(cfg) if k != "source_format"})},
        {"": "Created", "value": f"{datetime.now().astimezone().isoformat(timespec='seconds')} by midi_rae "
                                 f"{__version__}"},
    ]
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in SECTIONS.items())
    return (f"<h1>midi_rae report: {html.escape(printable(roll.name))}</h1>" + _table(rows, left=("", "value"))
            + f"<nav>{nav}</nav>")


def _recon_section(bundle: ModelBundle, res: WindowAnalysis, fig, steps_per_bar: int) -> str:
    if bundle.decoder is None:
        return _section("recon", _note("This checkpoint holds an encoder only, so there is no reconstruction; "
                                       "pass --decoder FILE to add one."))
    st = res.settings
    text = (f"{res.n_hidden} of {res.mask.size} finest patches hidden ({_hidden_share(res)}; mask ratio "
            f"{st.mask_ratio:.2f} of the non-empty patches, empty mask ratio {st.empty_mask_ratio:.2f}, seed "
            f"{st.seed}); threshold {st.threshold:.2f}.")
    return _section("recon", _note(text), fig(reconstruction_row(res.image, res.hidden_px, res.probs, res.binary(),
                                                                 st.threshold, bars=(res.start, steps_per_bar))),
                    _table(metric_rows(res.metrics), left=("",)))


def _hidden_share(res: WindowAnalysis) -> str:
    return f"{100 * res.n_hidden / max(res.mask.size, 1):.1f}% of all finest patches"


def _along_section(bundle: ModelBundle, roll: PianoRoll, res: WindowAnalysis, fig) -> str:
    """Every window's F1 along the piece, as the piece page's tab draws it, and the windows reconstructed worst."""
    from .figures import f1_along_piece
    from .piece_scores import along_title, pooled_sentence, score_piece, worst_windows

    if bundle.decoder is None:
        return _section("along", _note("This checkpoint holds an encoder only, so there is no reconstruction to "
                                       "score along the piece."))
    scores = score_piece(bundle, roll, res.settings)
    unit = time_unit(roll)
    chart = f1_along_piece(time_positions(roll, scores.starts), scores.f1("plain"), scores.f1("masked"),
                           float(time_positions(roll, [res.start])[0]), f"window's first {unit}", along_title(scores))
    return _section("along", _note(pooled_sentence(scores, lambda c: f"<code>{c}</code>") + ". Each window is "
                                   "scored under its own mask; the dotted line marks the window studied above."),
                    fig(chart), _table(worst_windows(scores, roll, bundle.model_config.window_steps),
                                       left=("Window",)))


def _pca_section(cfg, piece: PieceEncoding, spbar: int, fig) -> str:
    rng = np.random.default_rng(0)
    parts = []
    for k, (emb, ne) in enumerate(zip(piece.level_emb, piece.level_non_empty)):
        W, N, D = emb.shape
        pca = pca_fit(emb.reshape(-1, D), k=2)
        idx = np.arange(W * N)
        if idx.size > MAX_PCA_POINTS:
            idx = np.sort(rng.choice(idx, MAX_PCA_POINTS, replace=False))
        places = patch_places(cfg, k, piece.starts)
        bar = places["step"][idx] / spbar + 1
        coords = pca.transform(emb.reshape(-1, D)[idx])
        hover = [f"window {wi + 1} · patch {ni} · bar {b:.4g}"
                 for wi, ni, b in zip(places["window"][idx], places["patch"][idx], bar)]
        ratio = ", ".join(f"{100 * r:.0f}%" for r in pca.explained_ratio)
        rows, cols = cfg.level_grids[k]
        scatter = pca_scatter(coords, bar, "bar", hover=hover, dims=2,
                              title=f"Level {k} ({rows}×{cols}, dim {D}): patches<br><sup>{W * N:,} patches"
                                    + (f", {len(idx):,} drawn" if len(idx) < W * N else "")
                                    + f"; PC1, PC2 explain {ratio}</sup>")
        scatter.update_layout(margin=dict(t=60))  # room for the two-line title
        # Linear, so projecting the pooled vector equals pooling the projected patches.
        path = pca.transform(pooled_windows(emb, ne))
        wbars = piece.starts / spbar + 1
        traj = trajectory(path, wbars, title=f"Level {k}: windows in time order<br><sup>each the mean of its "
                                             f"non-empty patches, {W} windows</sup>",
                          hover=[f"window {i + 1} · from bar {b:.4g}" for i, b in enumerate(wbars)])
        traj.update_layout(margin=dict(t=60))
        parts.append(f'<div class="grid2">{fig(scatter)}{fig(traj)}</div>')
    return _section("pca", _note("PCA of each level's patch embeddings over all windows of the piece, coloured by "
                                 "the bar where the patch starts (left), and the path of the windows' mean "
                                 "non-empty embedding through the same two components (right)."), *parts)


def _similarity_section(cfg, piece: PieceEncoding, spbar: int, fig) -> str:
    figs = [fig(similarity_matrix(self_similarity(pooled_windows(e, ne)), piece.starts / spbar + 1,
                                  title=f"Level {k} ({cfg.level_grids[k][0]}×{cfg.level_grids[k][1]})"))
            for k, (e, ne) in enumerate(zip(piece.level_emb, piece.level_non_empty))]
    return _section("similarity", _note("Cosine similarity between windows, each window the mean of its non-empty "
                                        "patches at that level; axes give the bar each window starts at. Repeats "
                                        "in the music show as bright off-diagonal stripes."),
                    f'<div class="grid3">{"".join(figs)}</div>')


def _spectrum_section(cfg, piece: PieceEncoding, fig) -> str:
    specs = [spectrum(e) for e in piece.level_emb]
    rows = spectrum_rows(cfg, piece.level_emb, specs)
    return _section("spectrum", _note("Singular values of each level's centred embedding matrix (all patches of "
                                      "all windows, empty ones included). Few components reaching 90% means a "
                                      "low-dimensional, possibly collapsed, level; neither count can pass the "
                                      "rank cap (points − 1 or the dimension), which a short piece's coarse "
                                      "levels reach."),
                    fig(spectrum_plot(specs, title="Spectrum per level", grids=cfg.level_grids)), _table(rows))


def _probe_section(bundle: ModelBundle, roll: PianoRoll, start: int, fig) -> str:
    grids = bundle.model_config.level_grids
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
        "with the patch that now holds the same content, defined only where k is a multiple of s, so each "
        "level's aligned line has points only there. Same position: each patch against the patch at the same "
        "place."),
        f'<div class="grid2">{"".join(figs)}</div>')


def _ablation_section(bundle: ModelBundle, roll: PianoRoll, res: WindowAnalysis, piece: PieceEncoding, fig) -> str:
    from .ablation import MODE_LABELS, ONE_WINDOW_NOTE, ablate_piece, ablate_window, ablation_rows
    from .figures_hierarchy import ablation_drops, ablation_error_maps

    if bundle.decoder is None:
        return _section("ablation", _note("This checkpoint holds an encoder only, so there is nothing to ablate."))
    if piece.n_windows < 2:
        return _section("ablation", _note(ONE_WINDOW_NOTE))
    a = ablate_piece(bundle, roll, "mean", res.settings, piece=piece)
    w = ablate_window(bundle, roll, res.start, "mean", res.settings, piece=piece)
    keys = list(w.probs)
    st = res.settings
    return _section("ablation", _note(
        f"Each level in turn is replaced by {MODE_LABELS['mean']} and the piece's {a.windows} windows are decoded "
        f"again under the same masks (mask ratio {st.mask_ratio:g}, seed {st.seed}, threshold {st.threshold:.2f}). "
        "A drop near 0 means the decoder does not use that level. <code>midi-rae ablate FILE --mode other</code> "
        "swaps in the least similar window's level instead."),
        fig(ablation_drops(a.levels, [a.drop("plain", k) for k in a.levels], [a.drop("masked", k) for k in a.levels],
                           st.mask_ratio, a.grids)),
        _table(ablation_rows(a), left=("Ablated",)),
        fig(ablation_error_maps(w.image, [w.binary(k) for k in keys], ["nothing ablated"] + keys[1:],
                                title="The studied window's raw reconstruction with each level ablated")))


def bar_numbers(bars) -> str:
    """Bar positions (0-based) as the page and `phrases` give them: 1 = the first bar, to 4 decimals ("100.25")."""
    return ", ".join(f"{round(float(b) + 1, 4):g}" for b in bars)


def _phrases_section(cfg, roll: PianoRoll, piece: PieceEncoding, fig) -> str:
    from .figures_hierarchy import novelty_curves
    from .phrases import ProbeSettings, probe_piece

    ps = ProbeSettings()
    probe = probe_piece(piece, roll, cfg, ps)
    parts = [_note(f"Per level, the cosine self-similarity of consecutive frames ({ps.frames}: each level's patch "
                   f"columns, pooled over pitch) scanned with a Gaussian checkerboard kernel of {ps.kernel_bars:g} "
                   f"bars each side (Foote's novelty); peaks reaching {ps.threshold:g} of the largest, at least "
                   f"{ps.min_distance_bars:g} bar apart, are boundaries. The last curve is the raw piano roll's. "
                   "<code>midi-rae phrases</code> scores every level on the shipped labelled Bach chorales."),
             fig(novelty_curves(probe.tracks, probe.reference, tolerance=ps.tolerance_bars))]
    if probe.labels is not None:
        parts.append(_note(f"This piece is the labelled chorale {html.escape(probe.labels['corpus_path'])}; "
                           f"boundaries within ±{ps.tolerance_bars:g} bar of a phrase end (fermata) are hits."))
        parts.append(_table([{"Frames": k, "Precision": v["precision"], "Recall": v["recall"], "F1": v["f1"],
                              "Boundaries found": v["estimates"], "Phrase ends": v["references"]}
                             for k, v in probe.scores.items()], left=("Frames",)))
    else:
        parts.append(_table([{"Frames": t.name, "Boundaries (bar, 1 = first)": bar_numbers(t.boundaries)}
                             for t in probe.tracks], left=("Frames", "Boundaries (bar, 1 = first)")))
    return _section("phrases", *parts)


# ---------------------------------------------------------------------------------------------
# Entry points

@torch.no_grad()
def build_report(midi: str | Path, checkpoint: Optional[str] = None, decoder: Optional[str] = None,
                 mask_ratio: float = 0.5, empty_mask_ratio: Optional[float] = None, seed: int = 0,
                 start_bar: Optional[int] = None, steps_per_beat: Optional[int] = None,
                 threshold: Optional[float] = None, notes: Optional[list] = None, sustain_pedal: bool = False,
                 roll: Optional[PianoRoll] = None) -> str:
    """The report's HTML text (raises MidiError or CheckpointError for unusable input); `notes` gets a sentence
    for a setting it could not follow (a start bar past the piece's last window start); `sustain_pedal` applies a
    MIDI file's pedal; `roll`: the piece already read (used where read at the resolution wanted)."""
    from .threads import configure

    configure()
    bundle = load_model(checkpoint, decoder=decoder)
    spb = steps_per_beat or bundle.config.get("steps_per_beat") or 4
    roll = read_roll_once(roll, midi, spb, sustain_pedal=sustain_pedal)  # MIDI or a PNG piano roll, by its bytes
    cfg = bundle.model_config
    width = cfg.window_steps
    spbar = max(roll.steps_per_bar, 1)
    piece = encode_piece(bundle.encoder, roll)

    # The window under study, starting at a bar as the dashboard's slider does; by default where the page opens a
    # piece: bar 1, or the first note's bar where the window at bar 1 holds none
    if start_bar is None:
        start_bar = first_sounding_bar(roll, width)
        if start_bar > 1 and notes is not None:
            notes.append(f"the window at bar 1 holds no note: the window studied starts at bar {start_bar} and holds "
                         f"the first note (--start-bar chooses another).")
    last = start_bars(roll.steps, spbar, width)
    start = (min(max(int(start_bar), 1), last) - 1) * spbar
    if start_bar > last and notes is not None:  # one rule with the piece page and `search`
        notes.append(f"bar {start_bar} is past the last bar a window of {printable(Path(midi).name)} starts at (a "
                     f"window from there would hold bars of silence): bar {last} is studied.")
    res = analyse_window(bundle, roll, start, settings_for(bundle, mask_ratio, empty_mask_ratio, seed, threshold))

    fig = _Figures()
    window_title = f"Window: {width} steps from bar {start // spbar + 1}"
    parts = [
        _header(roll, bundle, str(midi)),
        _section("roll", fig(roll_overview(roll.array, spbar, (start, width),
                                           title=html.escape(f"{printable(roll.name)}: whole piece ({roll.bars:.1f} bars)"))),
                 fig(window_roll(res.image, start, roll.steps_per_beat, roll.beats_per_bar, title=window_title))),
        _section("masks", _note(f"A patch is non-empty when any of its pixels holds a note. Piece statistics use "
                                f"{windows_text(piece.n_windows, piece.hop, spbar, roll.steps_only)}."),
                 fig(level_masks(res.level_non_empty, res.image)),
                 _table(level_rows(cfg, piece, res))),
        _recon_section(bundle, res, fig, spbar),
        _along_section(bundle, roll, res, fig),
        _pca_section(cfg, piece, spbar, fig),
        _similarity_section(cfg, piece, spbar, fig),
        _spectrum_section(cfg, piece, fig),
        _probe_section(bundle, roll, start, fig),
        _ablation_section(bundle, roll, res, piece, fig),
        _phrases_section(cfg, roll, piece, fig),
    ]
    title = html.escape(f"midi_rae report: {printable(roll.name)}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(out: str | Path, midi: str | Path, **kwargs) -> Path:
    """Write build_report(midi, **kwargs) to `out` and return its path."""
    text = build_report(midi, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_symlink() or (out.exists() and not out.is_file()):
        out.write_text(text, encoding="utf-8")  # a link, a pipe or a terminal (-o /dev/stdout): written through
        return out
    part = out.with_name(out.name + ".part")  # written whole, then renamed: a failed write leaves no half report
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out
