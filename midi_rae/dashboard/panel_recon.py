"""Masked reconstruction: original, masked input, probabilities, binarized, errors, and the scores."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from midi_rae.figures import FN_COLOUR, FP_COLOUR, MASKED, NOTE, TP_COLOUR, reconstruction_row
from midi_rae.inference import metric_rows
from midi_rae.pianoroll import bar_ticks, note_name
from midi_rae.rasters import png, reconstruction_images

from . import export, image_row, tables
from .session import K
from .swatches import legend


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def metrics_table(metrics: dict) -> pd.DataFrame:
    """Precision, recall, F1, specificity on masked patches and on all patches."""
    return pd.DataFrame(metric_rows(metrics, _fmt)).set_index("")


@st.cache_resource(max_entries=64, show_spinner=False)
def recon_figure(res_key: tuple, _res, pitch_range: tuple, steps_per_bar: int):
    """The five-panel reconstruction of a result as a plotly figure, numbered by bars (cached by the result's
    key)."""
    return reconstruction_row(_res.image, _res.hidden_px, _res.probs, _res.binary(), _res.settings.threshold,
                              pitch_range=pitch_range, bars=(_res.start, steps_per_bar))


@st.cache_resource(max_entries=64, show_spinner=False)
def _recon_images(res_key: tuple, _res, pitch_range: tuple) -> dict:
    # PNG data URIs, made once per result, not on every rerun
    images = reconstruction_images(_res.image, _res.hidden_px, _res.probs, _res.binary(), pitch_range)
    return {k: image_row.data_uri(png(v)) for k, v in images.items()}


def show_images(res, pitch_range: tuple, steps_per_bar: int, steps_only: bool = False) -> None:
    """The five panels as images with their titles and the window's bar numbers, and what the colours mean."""
    images = _recon_images(res.key, res, pitch_range)
    counts = error_counts(res)
    titles = ["Original", "Masked input", "Probabilities (0 → 1)", f"Binarized (>{res.settings.threshold:.2f}), "
              "pasted", "Errors in hidden patches"]
    ticks = bar_ticks(res.start, res.image.shape[1], steps_per_bar, steps=steps_only)
    image_row.show(st, list(zip(titles, images.values())), ticks=ticks)
    legend([("note", NOTE), ("hidden from the model", MASKED), (f"right ({counts['tp']:,})", TP_COLOUR),
            (f"extra ({counts['fp']:,})", FP_COLOUR), (f"missed ({counts['fn']:,})", FN_COLOUR)],
           suffix=f" · panels span pitches {note_name(pitch_range[0])}–{note_name(pitch_range[1])}, pitch upward, "
                  f"time to the right ({'steps' if steps_only else 'bar numbers'} under each panel); probabilities "
                  "dark (0) to yellow (1)")


def error_counts(res) -> dict:
    """TP/FP/FN pixel counts in the hidden patches (the headline scores' pixels)."""
    m = res.metrics["masked"]
    return {k: m[k] for k in ("tp", "fp", "fn")}


ENCODER_ONLY = ("The model in use has no decoder, so there is no reconstruction to show; a checkpoint with the "
                "decoder saved with this encoder shows one.")


def hidden_sentence(res) -> str:
    """How many finest patches the mask hid, of the non-empty ones and of all, and the chances that drew it: each
    patch is hidden by its own draw, so the share of non-empty patches hidden varies around the mask ratio."""
    hidden, note = ~res.mask, res.level_non_empty[-1].reshape(-1)
    n, notes = int(hidden.sum()), int(note.sum())
    of_notes = int((hidden & note).sum())
    m = res.settings
    share = f" ({100 * of_notes / notes:.0f}%)" if notes else ""
    return (f"{n} of {res.mask.size} finest patches hidden ({100 * n / max(res.mask.size, 1):.0f}%): {of_notes} of "
            f"the {notes} non-empty ones{share} and {n - of_notes} of the {res.mask.size - notes} empty ones. Each "
            f"non-empty patch is hidden with probability {m.mask_ratio:.2f} (the mask ratio) and each empty one with "
            f"{m.mask_ratio * m.empty_mask_ratio:.3g} ({m.empty_mask_ratio:.2f} × that), drawn with mask seed "
            f"{m.seed}.")


def render(res, pitch_range: tuple, steps_per_bar: int, movable: bool = True, steps_only: bool = False) -> None:
    """The five-panel row and the metrics, or why there is none (`movable`: the piece has other windows)."""
    st.subheader("Masked reconstruction")
    n_hidden = res.n_hidden
    mask = res.settings
    if res.probs is None:
        # not "add the decoder file": this is also what shows after a dropped decoder was refused (the sidebar says
        # why, and that the encoder alone is still in use)
        st.info(ENCODER_ONLY)
        return
    st.caption(hidden_sentence(res) + f" The decoder fills them in from what the encoder saw. Threshold "
               f"{mask.threshold:.2f}.")
    warning, alert = res.output_warning(movable), st.container()  # a slot on every run (see page.main's notes)
    if warning:
        alert.warning(warning)
    interactive = st.toggle("Interactive (hover, zoom)", persist_state="session", key=K.RECON_INTERACTIVE,
                            help="The plain images redraw in half the time; the chart gives each pixel's pitch, "
                                 "step and value.")
    with st.container():  # the chart or the images and their legend: one slot, so the scores below stay mounted
        if interactive:
            export.chart(st, recon_figure(res.key, res, pitch_range, steps_per_bar), key="recon_chart")
        else:
            show_images(res, pitch_range, steps_per_bar, steps_only)
            export.figure("recon_chart", lambda: recon_figure(res.key, res, pitch_range, steps_per_bar))
    m = res.metrics
    undefined = st.container()  # a slot on every run, as `alert`
    if n_hidden == 0:
        undefined.caption("Nothing is masked at this ratio, so the masked-patch scores are undefined (—); "
                          "the all-patch scores still apply.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("F1, masked patches", _fmt(m["masked"]["f1"]))
    c2.metric("Precision, masked", _fmt(m["masked"]["precision"]))
    c3.metric("Recall, masked", _fmt(m["masked"]["recall"]))
    c4.metric("F1, all patches", _fmt(m["all"]["f1"]))
    tables.show(st, metrics_table(m))
