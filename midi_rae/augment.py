"""Training augmentations that make corpus windows look more like real ensemble music, vectorised per batch.

Every function takes a batch of binary windows `x` (n, 128 pitches, W steps) as a numpy array and works on the
whole batch at once (no loop over windows); the random ones take a numpy Generator and a probability, choose
the windows they change with one draw, and leave the rest as they were. `WindowDataset.draw` applies them in
one fixed order (see `midi_rae.train_data`), only those whose TrainConfig option is on, so a run with every
option off draws exactly the batches it drew before these existed.

- `run_position`: steps since the onset of the note run each pixel belongs to (the building block).
- `rearticulate` / `articulate`: split long notes into repeated short notes (keep a pixel when its position in
  its run, modulo `period`, is below `on`), or shorten them (a period longer than the window keeps the first
  `on` steps of each run): the staccato and repeated sixteenths the corpus lacks.
- `compress_time`: a 2W-step window rendered at half the time resolution (as if the piece were written in
  notes of half the length): step t is on where step 2t is on or a note starts at step 2t+1.
- `shift_pitch`, `octave_double`: a window doubled at the octave above or below, where it has room.
- `superpose`: the OR of a window and a window of another piece (drawn, and transposed, separately by the
  caller): two voices that were never written together, as in a dense ensemble texture.
"""
from __future__ import annotations

import numpy as np

PITCHES = 128
NO_REPEAT = 1 << 20        # a period no window reaches: `rearticulate` then only shortens
PERIODS = np.array([2, 3, 4, NO_REPEAT])   # what `articulate` draws from: repeat every 2, 3, 4 steps, or shorten


def _onsets(x: np.ndarray) -> np.ndarray:
    """True where a run of on-pixels starts along the last axis."""
    x = x.astype(bool)
    prev = np.zeros_like(x)
    prev[..., 1:] = x[..., :-1]
    return x & ~prev


def run_position(x: np.ndarray) -> np.ndarray:
    """(n, P, W) int64: for each on-pixel, the steps since its run's onset (0 at the onset); -1 off a note."""
    x = x.astype(bool)
    idx = np.arange(x.shape[-1])
    last_onset = np.maximum.accumulate(np.where(_onsets(x), idx, -1), axis=-1)
    return np.where(x, idx - last_onset, -1)


def rearticulate(x: np.ndarray, period: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Keep a pixel of window i when (position in its run) % period[i] < on[i]; the dtype of x is kept.

    period (n,) and on (n,) integers, on >= 1 (every run keeps its onset, so no note disappears)."""
    pos = run_position(x)
    period = np.asarray(period, dtype=np.int64)[:, None, None]
    on = np.asarray(on, dtype=np.int64)[:, None, None]
    keep = (pos >= 0) & (pos % period < on)
    return (x * keep).astype(x.dtype)


def articulate(x: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """Re-articulate or shorten a share `prob` of the windows: each chosen window draws a period from
    `PERIODS` (2, 3, 4 steps, or none = shorten only) and an on-length of 1 or 2 steps (1 for period 2)."""
    if prob <= 0 or len(x) == 0:
        return x
    n = len(x)
    chosen = rng.random(n) < prob
    period = PERIODS[rng.integers(0, len(PERIODS), n)]
    on = np.minimum(rng.integers(1, 3, n), period - 1)
    period = np.where(chosen, period, NO_REPEAT)
    on = np.where(chosen, on, NO_REPEAT)      # unchosen windows keep every pixel
    return rearticulate(x, period, on)


def compress_time(x2: np.ndarray) -> np.ndarray:
    """(n, P, 2W) -> (n, P, W) at half the time resolution: step t is on where step 2t is on or a note starts at
    step 2t+1 (so one-step notes on odd steps are kept as onsets)."""
    if x2.shape[-1] % 2:
        raise ValueError("compress_time needs an even number of steps")
    starts = _onsets(x2)
    return (x2[..., 0::2].astype(bool) | starts[..., 1::2]).astype(x2.dtype)


def shift_pitch(x: np.ndarray, semitones: np.ndarray) -> np.ndarray:
    """Window i moved up by semitones[i] (negative = down); notes pushed past 0..127 are dropped."""
    t = np.asarray(semitones, dtype=np.int64)
    src = np.arange(x.shape[1])[None, :] - t[:, None]
    inside = (src >= 0) & (src < x.shape[1])
    return np.take_along_axis(x, np.clip(src, 0, x.shape[1] - 1)[:, :, None], axis=1) * inside[:, :, None]


def octave_double(x: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """Double a share `prob` of the windows an octave up or down (drawn), where the window's notes have the room
    (else the other way; a window with room neither way is left alone)."""
    if prob <= 0 or len(x) == 0:
        return x
    n = len(x)
    chosen = rng.random(n) < prob
    up_first = rng.random(n) < 0.5
    rows = x.any(axis=2)
    used = rows.any(axis=1)
    lo = np.where(used, rows.argmax(axis=1), 0)
    hi = np.where(used, x.shape[1] - 1 - rows[:, ::-1].argmax(axis=1), x.shape[1] - 1)
    can_up, can_down = hi + 12 < x.shape[1], lo - 12 >= 0
    go_up = np.where(up_first, can_up, can_up & ~can_down)
    go_down = ~go_up & can_down
    shift = np.where(chosen & go_up, 12, np.where(chosen & go_down, -12, 0))
    doubled = shift_pitch(x, shift) * (shift != 0)[:, None, None]
    return (x | doubled).astype(x.dtype)


def superpose(x: np.ndarray, partner: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """x with partner[i] OR-ed in where chosen[i] (a boolean (n,) array)."""
    return (x | (partner * np.asarray(chosen, dtype=bool)[:, None, None])).astype(x.dtype)
