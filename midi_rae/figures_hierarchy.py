"""Figures of the hierarchy views (level ablation, phrase probe): numpy arrays and dicts in, `go.Figure` out.

Same conventions and palette as midi_rae.figures: levels coarsest first, pitch upward, time to the right, the
error-map colours of the reconstruction row.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .figures import (BACKGROUND, FN_COLOUR, FP_COLOUR, FRAME, MASKED, OKABE_ITO, TP_COLOUR, _ERROR_NAMES,
                      _FN, _FP, _NAMES, _TP, _discrete_colorscale, _figure, _legend_swatch, _style, _subplots, error_codes,
                      note_ticks)
from .wording import signed

__all__ = ["ablation_drops", "ablation_error_maps", "novelty_curves", "probe_scores"]

# Okabe & Ito's blue (the note colour, near black, vanished on a dark theme), and the masked-patch colour
UNMASKED_COLOUR, MASKED_COLOUR = OKABE_ITO[0], MASKED
REFERENCE_COLOUR = "#555555"
_ERRORS = _discrete_colorscale([BACKGROUND, TP_COLOUR, FP_COLOUR, FN_COLOUR])


def _signed(d: float) -> str:
    """An F1 change for a bar's label: +0.012, −0.003, and 0.000 for what rounds to nothing (wording.signed)."""
    return "" if np.isnan(d) else signed(d)


MIN_DROP_AXIS = 0.01  # the ablation chart's axis spans at least ±this much F1


def ablation_drops(levels: Sequence[int], drop_unmasked: Sequence[float], drop_masked: Sequence[float],
                   mask_ratio: float, grids: Optional[Sequence[tuple[int, int]]] = None,
                   title: str = "F1 lost when a level is ablated") -> go.Figure:
    """Grouped bars per level: F1 lost by the unmasked reconstruction and on the masked pixels (nan = not shown)."""
    names = [f"level {k}" + (f" ({grids[k][0]}×{grids[k][1]})" if grids else "") for k in levels]
    fig = _figure()
    for label, vals, colour in (("unmasked", drop_unmasked, UNMASKED_COLOUR),
                                (f"masked patches (ratio {mask_ratio:g})", drop_masked, MASKED_COLOUR)):
        v = np.asarray(vals, dtype=float)
        fig.add_trace(go.Bar(x=names, y=v, name=label, marker_color=colour,
                             text=[_signed(d) for d in v], textposition="outside",
                             hovertemplate="%{x}<br>F1 lost %{y:.4f}<extra>" + label + "</extra>"))
    yaxis = dict(title_text="F1 lost (nothing ablated − ablated)", zeroline=True, zerolinecolor="#999",
                 tickformat=".3f")
    finite = np.asarray([d for d in (*drop_unmasked, *drop_masked) if np.isfinite(d)], dtype=float)
    lo, hi = (float(finite.min(initial=0.0)), float(finite.max(initial=0.0)))
    if max(-lo, hi) < MIN_DROP_AXIS:  # losses that print as 0.000 are not drawn filling the chart
        yaxis["range"] = [min(1.3 * lo, -MIN_DROP_AXIS), max(1.3 * hi, MIN_DROP_AXIS)]
    return _style(fig, title, 340, barmode="group", xaxis=dict(title_text="ablated level"), yaxis=yaxis,
                  legend=dict(orientation="h", x=0, y=-0.25, yanchor="top"))


def ablation_error_maps(original: np.ndarray, binaries: Sequence[np.ndarray], titles: Sequence[str],
                        pitch_range: Optional[tuple[int, int]] = None,
                        title: str = "Errors of the reconstruction with each level ablated") -> go.Figure:
    """One error map per reconstruction (right, extra and missed notes over all pixels), side by side.

    Heatmaps with a categorical pitch axis of note names, as the reconstruction row draws them.
    """
    original = np.asarray(original) > 0
    H, W = original.shape
    lo, hi = pitch_range if pitch_range is not None else (0, H - 1)
    lo, hi = max(0, lo), min(H - 1, hi)
    rows = slice(lo, hi + 1)
    names = _NAMES[lo:hi + 1]
    n = len(binaries)
    fig = _subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.012, shared_yaxes=True)
    for i, b in enumerate(binaries):
        err = error_codes(original, np.asarray(b) > 0)[rows]
        counts = {c: int((err == c).sum()) for c in (_TP, _FP, _FN)}
        fig.add_trace(go.Heatmap(
            z=err, x=np.arange(W), y=names, zmin=0, zmax=3, colorscale=_ERRORS, showscale=False, name=titles[i],
            hovertemplate="%{y} · step %{x}<br>%{z} (0 " + ", ".join(f"{c} {_ERROR_NAMES[c]}" for c in
                                                                     (_TP, _FP, _FN)) + ")<extra></extra>"),
            row=1, col=i + 1)
        fig.layout.annotations[i].text = f"{titles[i]}<br>extra {counts[_FP]:,} · missed {counts[_FN]:,}"
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, **FRAME)
    fig.update_yaxes(type="category", showgrid=False, zeroline=False, tickmode="array",
                     tickvals=note_ticks(lo, hi)[1], **FRAME)
    fig.update_yaxes(title_text="pitch", row=1, col=1)
    fig.update_annotations(font_size=11)
    for name, colour in (("right", TP_COLOUR), ("extra", FP_COLOUR), ("missed", FN_COLOUR)):
        _legend_swatch(name, colour, fig=fig, row=1, col=1)
    return _style(fig, title, 300, legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.08, yanchor="top"),
                  margin=dict(l=50, r=10, t=70, b=40))


def novelty_curves(tracks: Sequence, reference: Optional[Sequence[float]] = None,
                   title: str = "Novelty per level", tolerance: Optional[float] = None) -> go.Figure:
    """One small panel per track (coarsest level first, baselines last): the novelty curve against bars, its
    detected boundaries as markers, and the reference phrase ends (when known) as dashed lines in every panel,
    with the tolerance shaded around them."""
    n = len(tracks)
    fig = _subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.02)
    palette = OKABE_ITO  # one colour per level, colour-blind-safe
    ends = [float(t.times.max()) + t.span_bars / 2 for t in tracks if t.has_curve]
    # no curve at all (a piece of a few bars): the frames that end first (a whole window's frame runs far past it)
    x_max = max(ends) if ends else min((float(t.times.max()) + t.span_bars / 2 for t in tracks if len(t.times)),
                                       default=1.0)
    legend_shown = False
    for i, t in enumerate(tracks):
        colour = palette[i % len(palette)] if t.level is not None else REFERENCE_COLOUR
        label = dict(title_text=t.name.replace(" (", "<br>(").replace(", ", ",<br>"), title_font=dict(size=10),
                     showticklabels=False, showgrid=False)
        if not t.has_curve:  # a line through one or two frames would look like a curve
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", showlegend=False, hoverinfo="skip"),
                          row=i + 1, col=1)  # plotly draws no axes, titles or notes for a panel without a trace
            sp = fig.get_subplot(i + 1, 1)
            fig.add_annotation(text="no curve: fewer than three frames", showarrow=False, x=0.5, y=0.5,
                               xref=f"{sp.xaxis.plotly_name.replace('axis', '')} domain",
                               yref=f"{sp.yaxis.plotly_name.replace('axis', '')} domain",
                               font=dict(size=11, color="#666"))
            fig.update_yaxes(zeroline=False, range=[0, 1], row=i + 1, col=1, **label)
            continue
        top = float(np.max(t.novelty, initial=0.0)) or 1.0
        y = np.asarray(t.novelty, dtype=float) / top
        fig.add_trace(go.Scatter(x=t.times + 1, y=y, mode="lines", name=t.name, showlegend=False,
                                 line=dict(color=colour, width=1.6),
                                 hovertemplate=t.name + "<br>bar %{x:.2f}<br>novelty %{y:.2f} of the largest"
                                               "<extra></extra>"), row=i + 1, col=1)
        if len(t.boundaries):
            fig.add_trace(go.Scatter(x=np.asarray(t.boundaries) + 1, y=np.interp(t.boundaries, t.times, y),
                                     mode="markers", name="boundary found", showlegend=not legend_shown,
                                     cliponaxis=False,
                                     marker=dict(symbol="triangle-down", size=9, color=colour,
                                                 line=dict(color="#222", width=0.5)),
                                     hovertemplate=t.name + "<br>boundary at bar %{x:.2f}<extra></extra>"),
                          row=i + 1, col=1)
            legend_shown = True  # once, on the first panel that has markers (the coarsest may have no curve)
        # the checkerboard's correlation dips below 0 between similar frames: the panel shows the whole curve
        low = min(-0.15, float(np.min(y, initial=0.0)) - 0.1)
        fig.update_yaxes(range=[low, 1.15], zeroline=True, zerolinecolor="#ddd", row=i + 1, col=1, **label)
    if reference is not None:
        for r in reference:
            if tolerance:
                fig.add_vrect(x0=r + 1 - tolerance, x1=r + 1 + tolerance, fillcolor="#999", opacity=0.12,
                              line_width=0, layer="below")
            fig.add_vline(x=r + 1, line=dict(color=REFERENCE_COLOUR, width=1, dash="dash"))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="phrase end (fermata)",
                                 line=dict(color=REFERENCE_COLOUR, dash="dash")), row=1, col=1)
        if tolerance:  # the grey bands, named: a boundary found inside one counts as a hit
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"within ±{tolerance:g} bar of one",
                                     marker=dict(symbol="square", size=12, color="rgba(153,153,153,0.35)")),
                          row=1, col=1)
    fig.update_xaxes(range=[1, x_max + 1], showgrid=False, **FRAME)
    fig.update_xaxes(title_text="bar (the roll's grid, 1 = the first bar of the file)", row=n, col=1)
    # the legend in a band of its own between the title and the first panel (over the panel it hid its curve)
    # (transparent: its white box reached a few pixels into the first panel and hid its frame)
    return _style(fig, title, 115 + 70 * n, legend=dict(orientation="h", x=1, xanchor="right", y=1.0,
                                                        yanchor="bottom", yref="paper", bgcolor="rgba(0,0,0,0)"),
                  margin=dict(l=90, r=10, t=85, b=45))


def probe_scores(rows: Sequence[dict], published: Optional[float] = None, published_label: str = "",
                 title: str = "Phrase-boundary F1 per level") -> go.Figure:
    """Bars of F1 per track (rows: {"name", "f1", "precision", "recall"}), baselines in grey, the published
    reference as a dashed line."""
    names = [r["name"].replace(" (", "<br>(").replace(", ", ",<br>") for r in rows]  # level, grid: two lines
    colours = [REFERENCE_COLOUR if not r["name"].startswith("level") else OKABE_ITO[i % len(OKABE_ITO)]
               for i, r in enumerate(rows)]
    fig = _figure(go.Bar(x=names, y=[r["f1"] for r in rows], marker_color=colours, name="F1",
                         text=[f"{r['f1']:.2f}" for r in rows], textposition="outside",
                         customdata=[[r["precision"], r["recall"]] for r in rows],
                         hovertemplate="%{x}<br>F1 %{y:.3f}<br>precision %{customdata[0]:.3f} · recall "
                                       "%{customdata[1]:.3f}<extra></extra>"))
    if published is not None:  # named in the title: a label on the line sat on the bars' own labels
        fig.add_hline(y=published, line=dict(color="#222", width=1, dash="dash"))
        title += f"<br><sup>dashed line: published {published:.2f} ({published_label})</sup>"
    return _style(fig, title, 360, yaxis=dict(title_text="F1", range=[0, 1.1]), xaxis=dict(tickangle=0),
                  showlegend=False, margin=dict(l=50, r=10, t=60, b=50))
