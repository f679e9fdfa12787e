"""Level ablation: which levels does the decoder actually use? One level replaced at a time, the piece decoded
again, and what the reconstruction loses, as F1 over the piece and as error maps of the current window."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from midi_rae.ablation import MODE_LABELS, ONE_WINDOW_NOTE, ablate_piece, ablate_window, ablation_rows, piece_codes
from midi_rae.figures_hierarchy import ablation_drops, ablation_error_maps
from midi_rae.wording import fixed

from . import export, tables
from .panel_roll import pitch_view
from .session import K

MODES = {"mean over the piece's windows": "mean", "the least similar window": "other"}
# windows of a long piece whose F1 is scored (evenly spaced): each costs two decodes per level, and all 165 windows
# of a 500-bar piece took 2.6 s here; the mean and the partners still come from every window
MAX_SCORED = 48
MIN_SCORED = 2


def windows_to_score(mc, decoder_type) -> int:
    """MAX_SCORED for a model that costs what the spec's default costs a window, fewer for a costlier one (its
    operations per window, `checkpoint.window_flops`): the original seven-level model with its MAE decoder costs
    170 times as much, and 48 of its windows kept the tab busy for 164 s."""
    from midi_rae.checkpoint import DEFAULT_CONFIG, window_flops
    from midi_rae.config import ModelConfig

    ratio = window_flops(mc, decoder_type) / window_flops(ModelConfig.from_dict(DEFAULT_CONFIG), "swin")
    return int(max(MIN_SCORED, min(MAX_SCORED, MAX_SCORED // max(ratio, 1e-9))))


@st.cache_resource(max_entries=4, show_spinner=False)
def piece_codes_cached(song_key: tuple, ckpt_key: str, settings, _song, _bundle) -> tuple:
    """The piece encoded under the settings, once for both ablations, F1 along the piece and every window step."""
    return piece_codes(_bundle, _song.roll, settings)


@st.cache_resource(max_entries=16, show_spinner="Decoding the whole piece with each level ablated…")
def _piece(song_key: tuple, ckpt_key: str, mode: str, settings, _song, _bundle):
    scored = windows_to_score(_song.config, _bundle.config.get("decoder_type"))
    return ablate_piece(_bundle, _song.roll, mode, settings, piece=_song.encoding,
                        codes=piece_codes_cached(song_key, ckpt_key, settings, _song, _bundle), max_windows=scored)


@st.cache_resource(max_entries=32, show_spinner="Decoding the window with each level ablated…")
def _window(song_key: tuple, ckpt_key: str, start: int, mode: str, settings, _song, _bundle):
    return ablate_window(_bundle, _song.roll, start, mode, settings, piece=_song.encoding,
                         codes=piece_codes_cached(song_key, ckpt_key, settings, _song, _bundle))


@st.cache_resource(max_entries=32, show_spinner=False)
def _figs(song_key: tuple, ckpt_key: str, start: int, mode: str, settings, pitch_range: tuple, _res, _win):
    levels = _res.levels
    drops = ablation_drops(levels, [_res.drop("plain", k) for k in levels],
                           [_res.drop("masked", k) for k in levels], _res.settings.mask_ratio, _res.grids,
                           title=f"F1 lost over {scored_windows(_res)} when a level is replaced by "
                                 f"{MODE_LABELS[mode]}")
    keys = list(_win.probs)
    titles = ["nothing ablated"] + [k for k in keys[1:]]
    maps = ablation_error_maps(_win.image, [_win.binary(k) for k in keys], titles, pitch_range,
                               title=f"This window under the Masked reconstruction section's mask (ratio "
                                     f"{_res.settings.mask_ratio:g}), decoded with each level ablated: errors over "
                                     "all pixels, nothing pasted back")
    return drops, maps


def scored_windows(res) -> str:
    """Which of the piece's windows a PieceAblation scored, in words."""
    if res.windows < res.of_windows:
        return f"{res.windows} of the piece's {res.of_windows} windows (evenly spaced)"
    return f"the piece's {res.windows} windows" if res.windows != 1 else "the piece's one window"


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return fixed(v)


def window_place(start: int, roll) -> str:
    """Where a window starts, in words: "bar 46" on a bar line (windows start on bars), else "bar 46, beat 3"."""
    bar, within = divmod(int(start), max(roll.steps_per_bar, 1))
    return f"bar {bar + 1}" + (f", beat {within // max(roll.steps_per_beat, 1) + 1}" if within else "")


def render(song, res, model) -> None:
    """The mode picker, the drop chart, the table and the window's error maps."""
    bundle = model.bundle
    if bundle.decoder is None:
        st.info("This checkpoint has no decoder, so there is no reconstruction to ablate.")
        return
    if song.n_windows < 2:
        st.info(ONE_WINDOW_NOTE)
        return
    label = st.radio("Replace the ablated level by", list(MODES), horizontal=True, persist_state="session",
                     key=K.ABLATION_MODE,
                     help="Mean: each patch's embedding averaged over the piece's windows (what is typical of the "
                          "piece stays, what is particular to the window goes). Least similar window: the level "
                          "of the window whose pooled embedding at that level is least cosine-similar.")
    mode = MODES[label]
    settings = res.settings
    piece = _piece(song.key, model.key, mode, settings, song, bundle)
    win = _window(song.key, model.key, res.start, mode, settings, song, bundle)
    drops, maps = _figs(song.key, model.key, res.start, mode, settings, pitch_view(song.roll), piece, win)
    export.chart(st, drops, key="ablation_drops")
    table = pd.DataFrame(ablation_rows(piece)).set_index("Ablated")
    # a static table: st.dataframe's grid made the tab's first opening load 1.4 MB of the browser's code
    tables.show(st, table.map(lambda v: v if isinstance(v, str) else _fmt(v)))
    export.chart(st, maps, key="ablation_maps")
    used = [k for k in piece.levels if (np.nan_to_num(piece.drop("masked", k)) >= 0.02
                                        or np.nan_to_num(piece.drop("plain", k)) >= 0.02)]
    partner = ""
    if mode == "other" and win.partner_starts:
        partner = " Swapped in for this window: " + ", ".join(
            f"{k} from the window at {window_place(s, song.roll)}" for k, s in win.partner_starts.items()) + "."
    st.caption(
        f"Each level in turn is replaced by {MODE_LABELS[mode]}, under the same masks, and {scored_windows(piece)} "
        f"are decoded again{' (`midi-rae ablate` scores every one)' if piece.windows < piece.of_windows else ''}. "
        f"The table's F1s are over those windows, so its 'nothing' row differs from the reconstruction section's, "
        f"which scores the window shown alone. F1 unmasked: all pixels of the unmasked reconstruction; F1 masked: "
        f"the masked patches' "
        f"pixels at mask ratio {settings.mask_ratio:g} (seed {settings.seed}), threshold {settings.threshold:.2f}. "
        f"A drop near 0 means the decoder does not use that level. Levels costing at least 0.02 F1 here: "
        f"{', '.join(f'level {k}' for k in used) or 'none'}.{partner}")
