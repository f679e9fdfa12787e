"""A/B comparison: a second checkpoint on the same window and mask, side by side."""
from __future__ import annotations

import functools
import math

import pandas as pd
import streamlit as st

from midi_rae.figures import probability_difference
from midi_rae.inference import METRIC_LABELS, spectrum_rows
from midi_rae.pianoroll import bar_ticks, place
from midi_rae.rasters import DIVERGING_HIGH, DIVERGING_LOW, difference_image, png
from midi_rae.wording import signed, stored_threshold

from . import export, image_row, panel_recon, tables
from .panel_embed import level_spectra
from .session import K
from .swatches import legend


def _f(v) -> float | None:
    # three decimals, as the reconstruction's own scores above
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 3)


def metrics_table(res_a, res_b, difference: bool = True) -> pd.DataFrame:
    """Masked-patch and all-patch scores of A and B, and B − A (where `difference`: both scored the same music)."""
    rows = {}
    for label, res in (("A", res_a), ("B", res_b)):
        m = res.metrics
        rows[label] = {} if m is None else {
            f"F1, {METRIC_LABELS['masked'].lower()}": _f(m["masked"]["f1"]),
            f"Precision, {METRIC_LABELS['masked'].lower()}": _f(m["masked"]["precision"]),
            f"Recall, {METRIC_LABELS['masked'].lower()}": _f(m["masked"]["recall"]),
            f"F1, {METRIC_LABELS['all'].lower()}": _f(m["all"]["f1"]),
            f"F1, {METRIC_LABELS['all_raw'].lower()}": _f(m["all_raw"]["f1"])}
    if rows["A"] and rows["B"] and difference:
        rows["B − A"] = {k: (None if rows["A"][k] is None or rows["B"][k] is None
                             else round(rows["B"][k] - rows["A"][k], 4)) for k in rows["A"]}
    # scores side by side read best with the same three decimals, and the difference with its sign
    text = {label: {k: "—" if v is None else signed(v) if label == "B − A" else f"{v:.3f}" for k, v in r.items()}
            for label, r in rows.items()}
    return pd.DataFrame(text).T


def levels_table(song_a, song_b) -> pd.DataFrame:
    """Per level: grid, embedding dim, components reaching 90% of the variance, effective rank and its cap for A
    and B (the spectrum tab's rows, side by side)."""
    per = {tag: spectrum_rows(song.config, song.level_emb, level_spectra(song.key, song))
           for tag, song in (("A", song_a), ("B", song_b))}
    columns = {"Grid": "grid", "Dim": "dim", "Components for 90%": "comps for 90%", "Effective rank": "effective rank",
               "Rank cap": "rank cap"}
    rows = []
    for k in range(max(len(r) for r in per.values())):
        row = {"Level": k}
        for tag, spec_rows in per.items():
            if k < len(spec_rows):
                row.update({f"{tag} {short}": spec_rows[k][name] for name, short in columns.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("Level")


@st.cache_resource(max_entries=16, show_spinner=False)
def _difference_uri(keys: tuple, _a, _b, pitch_range: tuple) -> str:
    return image_row.data_uri(png(difference_image(_a, _b, pitch_range)))


def _difference(res_a, res_b, pitch_range: tuple, steps_per_bar: int, steps_only: bool = False) -> None:
    """B − A of the two probability maps as one image the width of a reconstruction panel, and its colours."""
    uri = _difference_uri((res_a.key, res_b.key), res_a.probs, res_b.probs, pitch_range)
    ticks = bar_ticks(res_a.start, res_a.probs.shape[1], steps_per_bar, steps=steps_only)
    image_row.show(st, [("Probability difference (B − A)", uri)], columns=5, ticks=ticks)
    legend([("B more sure of a note", DIVERGING_HIGH), ("A more sure of a note", DIVERGING_LOW)],
           suffix=" · white where they agree; same pitches and steps as the panels above")


def same_checkpoint(model) -> None:
    """B is the checkpoint A already is: one sentence instead of a comparison of a model with itself."""
    st.subheader("A/B comparison")
    st.info(f"B is the same checkpoint as A ({model.label}); pick another one as B to compare two models.")


def render(model_a, model_b, res_a, res_b, song_a, song_b, pitch_range: tuple, spb: int = 4) -> None:
    """Scores, both reconstructions, the probability difference and a per-level table."""
    st.subheader(f"A/B comparison: A = {model_a.label}, B = {model_b.label}")
    same_mask = res_a.mask.shape == res_b.mask.shape and bool((res_a.mask == res_b.mask).all())
    wa, wb = (m.bundle.model_config.window_steps for m in (model_a, model_b))
    roll = song_a.roll
    if wa == wb:
        window = "Same window, same"
    else:  # from the same start, each model's own width: not the same music
        span = lambda w: place(roll, res_a.start, min(w, max(roll.steps - res_a.start, 1)))  # noqa
        window = (f"Windows from the same start but of different lengths (A: {wa} steps, {span(wa)}; B: {wb} steps, "
                  f"{span(wb)}): the two score different music, so no B − A is given. Same")
    st.caption(window + " mask ratio and seed" + (" — and the identical mask, since both models use the "
               "same patch grid" if same_mask else "; the patch grids differ, so each model gets its own mask")
               + f". A is binarized at {res_a.settings.threshold:.2f} (the threshold slider), B at "
               f"{stored_threshold(model_b.bundle.meta)}.")
    b_spb = model_b.bundle.config.get("steps_per_beat")
    if b_spb and int(b_spb) != int(spb):
        st.warning(f"B was trained at {int(b_spb)} steps per beat and is shown this piece at {int(spb)}, the page's "
                   "time resolution (A's): its notes are drawn longer or shorter than it learned them, so its "
                   "scores here understate it.")
    flat_b = res_b.output_warning()
    if flat_b is not None and (res_a.output_warning() is None or flat_b.startswith("This checkpoint's")):
        st.warning(f"B: {flat_b}")  # about B's decoder (a window too empty to judge is said above, for A)
    tables.show(st, metrics_table(res_a, res_b, difference=wa == wb))
    if wa == wb and res_a.probs is not None and res_b.probs is not None:
        st.caption("These are this window's scores; the F1 along the piece tab under Analyses scores A and B on every "
                   "window of the piece, and over the whole of it.")
    if res_b.probs is None or res_a.probs is None:
        st.info("One of the two checkpoints has no decoder, so only the per-level table can be compared.")
    else:
        # as images unless the reconstruction's "Interactive" toggle is on, like the reconstruction above
        interactive = bool(st.session_state.get(K.RECON_INTERACTIVE))
        for tag, res in (("A", res_a), ("B", res_b)):
            st.markdown(f"**{tag}**")
            fig = functools.partial(panel_recon.recon_figure, res.key, res, pitch_range, roll.steps_per_bar)
            if interactive:
                export.chart(st, fig(), key=f"ab_recon_{tag}")
            else:
                panel_recon.show_images(res, pitch_range, roll.steps_per_bar, roll.steps_only)
                export.figure(f"ab_recon_{tag}", fig)
        diff = functools.partial(probability_difference, res_a.probs, res_b.probs, pitch_range,
                                 bars=(res_a.start, roll.steps_per_bar))
        if res_a.probs.shape != res_b.probs.shape:
            st.info(f"A sees windows of {res_a.probs.shape[1]} steps and B of {res_b.probs.shape[1]}, so their "
                    "probabilities cannot be subtracted pixel by pixel.")
        elif interactive:
            export.chart(st, diff(), key="ab_diff")
        else:
            _difference(res_a, res_b, pitch_range, roll.steps_per_bar, roll.steps_only)
            export.figure("ab_diff", diff)
    st.markdown("**Per level**: how many principal components carry 90% of each level's variance over the piece")
    tables.show(st, levels_table(song_a, song_b).reset_index(), index=False)
