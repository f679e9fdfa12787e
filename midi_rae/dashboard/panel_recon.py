"""Masked reconstruction: original, masked input, probabilities, binarized, errors, and the scores."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from midi_rae.figures import reconstruction_row
from midi_rae.inference import metric_rows

from . import export, tables


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def metrics_table(metrics: dict) -> pd.DataFrame:
    """Precision, recall, F1, specificity on masked patches and on all patches."""
    return pd.DataFrame(metric_rows(metrics, _fmt)).set_index("")


@st.cache_resource(max_entries=64, show_spinner=False)
def _recon_fig(res_key: tuple, _res, pitch_range: tuple):
    return reconstruction_row(_res.image, _res.hidden_px, _res.probs, _res.binary(), _res.settings.threshold,
                              pitch_range=pitch_range)


def render(res, pitch_range: tuple) -> None:
    """The five-panel row and the metrics, or why there is none."""
    st.subheader("Masked reconstruction")
    n_hidden = res.n_hidden
    mask = res.settings
    if res.probs is None:
        st.info("This checkpoint holds an encoder only, so there is no reconstruction to show; load a checkpoint "
                "with a decoder (or add the decoder file) to see one.")
        return
    st.caption(f"{n_hidden} of {res.mask.size} finest patches hidden ({100 * n_hidden / max(res.mask.size, 1):.0f}%): "
               f"mask ratio {mask.mask_ratio:.2f} of the non-empty patches and {mask.empty_mask_ratio:.2f} × that "
               f"of the empty ones. The decoder fills them in from what the encoder saw. Threshold "
               f"{mask.threshold:.2f}.")
    warning = res.output_warning()
    if warning:
        st.warning(warning)
    export.chart(st, _recon_fig(res.key, res, pitch_range),
                    width="stretch", key="recon_chart")
    m = res.metrics
    if n_hidden == 0:
        st.caption("Nothing is masked at this ratio, so the masked-patch scores are undefined (—); "
                   "the all-patch scores still apply.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("F1, masked patches", _fmt(m["masked"]["f1"]))
    c2.metric("Precision, masked", _fmt(m["masked"]["precision"]))
    c3.metric("Recall, masked", _fmt(m["masked"]["recall"]))
    c4.metric("F1, all patches", _fmt(m["all"]["f1"]))
    tables.show(st, metrics_table(m))
