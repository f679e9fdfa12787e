"""Phrase probe: per level, a novelty curve over the piece and the boundaries it finds; for the labelled Bach
chorales, how well they match the phrase ends (fermatas)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from midi_rae.figures_hierarchy import novelty_curves, probe_scores
from midi_rae.wording import fixed
from midi_rae.phrases import (LABELS, PUBLISHED_F1, PUBLISHED_SOURCE, ProbeSettings, load_labels, probe_piece,
                              score_labelled, summary_rows)

from . import export, tables
from .session import K

FRAMES = {"patch columns": "columns", "whole windows": "windows"}
TOLERANCES = {"±1 bar": 1.0, "±½ bar": 0.5, "±1 beat": None}


@st.cache_resource(max_entries=32, show_spinner=False)
def _piece(song_key: tuple, settings: ProbeSettings, _song):
    return probe_piece(_song.encoding, _song.roll, _song.config, settings)


@st.cache_resource(max_entries=32, show_spinner=False)
def _piece_fig(song_key: tuple, settings: ProbeSettings, _probe):
    return novelty_curves(_probe.tracks, _probe.reference, tolerance=settings.tolerance_bars,
                          title="Novelty per level (normalised to each curve's largest value); ▼ boundaries found")


@st.cache_resource(max_entries=8, show_spinner="Encoding and scoring the labelled chorales…")
def _labelled(ckpt_key: str, settings: ProbeSettings, _bundle):
    return score_labelled(_bundle, settings)


def column_spans(cfg, roll) -> str:
    """What one column of patches spans at each level, in this piece's bars ("level 3: 1 bar, …")."""
    spbar = max(roll.steps_per_bar, 1)
    spans = [cfg.window_steps / cols for _, cols in cfg.level_grids]
    return ", ".join(f"level {k}: {s / spbar:.3g} {'bar' if s == spbar else 'bars'}" for k, s in enumerate(spans))


def _settings(song) -> ProbeSettings:
    roll, cfg = song.roll, song.config
    a, b = st.columns(2)
    frames = a.radio("Frames", list(FRAMES), horizontal=True, persist_state="session", key=K.PHRASE_FRAMES,
                     help=f"Patch columns: each of the level's columns of patches ({column_spans(cfg, roll)} of this "
                          "piece), pooled over pitch and averaged over the windows holding it. Whole windows: each "
                          f"window's mean non-empty patch ({cfg.window_steps / max(roll.steps_per_bar, 1):.3g} bars "
                          "here, so the first and last half window are out of reach).")
    tol = b.radio("Tolerance", list(TOLERANCES), horizontal=True, persist_state="session", key=K.PHRASE_TOLERANCE,
                  help="A boundary within this of a phrase end counts as a hit (each matched once).")
    bars = TOLERANCES[tol] if TOLERANCES[tol] is not None else 1 / max(roll.beats_per_bar, 1)
    return ProbeSettings(frames=FRAMES[frames], tolerance_bars=bars)


def _score_table(scores: dict) -> pd.DataFrame:
    return pd.DataFrame([{"Frames": k, "Precision": round(v["precision"], 3), "Recall": round(v["recall"], 3),
                          "F1": round(v["f1"], 3), "Boundaries found": v["estimates"]}
                         for k, v in scores.items()]).set_index("Frames")


def _scores(table: pd.DataFrame) -> None:
    """A static table of scores, each to three decimals (0.5 reads 0.500 beside 0.333)."""
    scores = [c for c in table.columns if c in ("Precision", "Recall", "F1", "Mean F1 per piece")]
    tables.show(st, table.assign(**{c: table[c].map(lambda v: "—" if pd.isna(v) else fixed(v)) for c in scores}))


def level_verdict(rows: list[dict], tolerance_bars: float) -> str:
    """The answer the scores give, in one sentence: the best level against the best baseline."""
    levels = [r for r in rows if str(r["Frames"]).startswith("level")]
    baselines = [r for r in rows if not str(r["Frames"]).startswith("level")]
    if not levels or not baselines:
        return ""
    best, base = max(levels, key=lambda r: r["F1"]), max(baselines, key=lambda r: r["F1"])
    if best["F1"] > base["F1"]:
        return (f"**{best['Frames']}** finds the phrase ends best (F1 {best['F1']:.3f}), above every baseline "
                f"(the best, {base['Frames']}: {base['F1']:.3f}) at ±{tolerance_bars:g} bar.")
    return (f"**No level beats the baselines at ±{tolerance_bars:g} bar**: the best level, {best['Frames']}, scores "
            f"{best['F1']:.3f} against {base['F1']:.3f} for {base['Frames']}; a tighter tolerance tells them apart "
            f"better.")


def render(song, model) -> None:
    """This piece's novelty curves, its scores when it is a labelled chorale, and the labelled set on request."""
    settings = _settings(song)
    probe = _piece(song.key, settings, song)
    export.chart(st, _piece_fig(song.key, settings, probe), key="phrase_novelty")
    flat = [t.name for t in probe.tracks if not t.has_curve]
    if flat:
        st.caption(f"No curve for {', '.join(flat)}: this piece gives {'it' if len(flat) == 1 else 'them'} fewer than "
                   "three frames (a frame's novelty needs frames on both sides of it).")
    if probe.labels is not None:
        lab = probe.labels
        st.markdown(f"This piece is the labelled chorale **{lab['corpus_path']}** ({len(probe.reference)} phrase "
                    f"ends inside the piece, dashed).")
        _scores(_score_table(probe.scores))
    st.caption(
        "Per level, the cosine self-similarity of consecutive frames is scanned with a Gaussian checkerboard kernel "
        f"({settings.kernel_bars:g} bars each side, Foote's novelty); peaks at least {settings.threshold:g} of the "
        f"largest and {settings.min_distance_bars:g} bar apart are boundaries. The grey curve is the raw piano "
        "roll's (1-bar frames), for comparison.")
    n = len(load_labels()["pieces"]) if LABELS.is_file() else 0
    if not n:
        return
    if st.toggle(f"Score every level on the {n} labelled Bach chorales (phrase ends = fermatas)",
                 persist_state="session", key=K.PHRASE_LABELLED):
        result = _labelled(model.key, settings, model.bundle)
        groups = list(result["summary"])
        group = st.radio("Chorales", groups, horizontal=True, persist_state="session", key=K.PHRASE_GROUP,
                         help="Held out: chorales this checkpoint kept for validation or test (never trained on).")
        rows = summary_rows(result["summary"], group)
        fig = probe_scores([{"name": r["Frames"], "f1": r["F1"], "precision": r["Precision"], "recall": r["Recall"]}
                            for r in rows], PUBLISHED_F1, PUBLISHED_SOURCE,
                           title=f"Phrase-boundary F1 on {result['summary'][group][rows[0]['Frames']]['pieces']} "
                                 f"chorales ({group}), tolerance ±{settings.tolerance_bars:g} bar")
        export.chart(st, fig, key="phrase_scores")
        _scores(pd.DataFrame(rows).set_index("Frames"))
        verdict = level_verdict(rows, settings.tolerance_bars)
        if verdict:
            st.markdown(verdict)
        st.caption(f"F1 over all phrase ends of the group (micro), and the mean of the per-piece F1. The published "
                   f"figure ({PUBLISHED_F1}, {PUBLISHED_SOURCE}) is on another corpus and protocol: a guide, not a "
                   "like-for-like comparison. Chorale phrases are about 2 bars long, so at ±1 bar a boundary every "
                   "2 bars already scores high; the tighter tolerances separate the levels better.")
