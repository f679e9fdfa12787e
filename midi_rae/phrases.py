"""Phrase probe: does a level's self-similarity over time find where phrases end?

Per level, a piece becomes a sequence of frames (each a pooled embedding with a time), the frames' cosine
self-similarity matrix is scanned along its diagonal with a Gaussian-tapered checkerboard kernel (Foote 2000, in
the form of Müller, *Fundamentals of Music Processing*, §4.4: size 2L+1, centre row and column zero), the novelty
curve's peaks are taken as boundaries, and the boundaries are scored against known phrase ends within a tolerance
(mir_eval's boundary detection measure, written out here: a maximum one-to-one matching of estimated and reference
boundaries closer than the tolerance; precision = matches / estimates, recall = matches / references).

Frames (`ProbeSettings.frames`):
- "columns" (default): each of the level's patch columns, pooled over its non-empty patches (the pitch axis) and
  averaged over the piece's windows that contain it (`inference.piece_windows`: one bar apart), timed at its
  centre. Level 0's column is the whole window (8 bars at the defaults), level 3's one bar, level 5's one beat.
- "windows": each window pooled over its non-empty patches (`structure.pooled_windows`), timed at its centre.
  Windows are 8 bars at the defaults, so boundaries within 4 bars of either end cannot be seen.

Novelty at frame i = the Gaussian-weighted mean similarity of distinct frames within the L frames before i and
within the L frames after i (averaged) minus the weighted mean similarity across them (`novelty`: the kernel is
truncated at the ends of the piece and each part normalised by the weight left; the first and last frame get 0).
L = `kernel_bars` in frames.

Peaks: local maxima of the novelty (a run of equal values counts once, at the mean time of the run), at least
`threshold` × the piece's largest novelty and above 0; then, strongest first, a peak closer than
`min_distance_bars` to a stronger one is dropped (as scipy's find_peaks `distance`).

Times are in bars of the roll's grid (0 = the first step of the file). The shipped labelled set
(assets/phrase_labels.json, made by scripts/make_phrase_labels.py with music21) gives Bach chorales' phrase ends
(ends of fermata chords); `score_labelled` scores every level on it. Pure numpy apart from the encoding, which
uses the model (torch is imported only there). music21 is not needed here.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .checkpoint_meta import ASSETS
from .structure import pooled_windows, self_similarity

__all__ = ["ProbeSettings", "Track", "checkerboard_kernel", "novelty", "pick_peaks", "match_boundaries",
           "boundary_scores", "column_frames", "window_frames", "roll_frames", "track", "piece_tracks",
           "grid_boundaries", "roll_key", "load_labels", "labels_for_roll", "score_labelled", "PUBLISHED_F1",
           "PUBLISHED_SOURCE", "LABELS", "reference_bars", "summary_rows", "PieceProbe", "probe_piece", "cli"]

LABELS = ASSETS / "phrase_labels.json"
MIDI_DIR = ASSETS / "phrases"
PUBLISHED_F1 = 0.56  # unsupervised symbolic boundary detection at one-bar tolerance
PUBLISHED_SOURCE = "graph novelty, arXiv 2303.13881"
GRID_BARS = 2  # the trivial baseline: a boundary every this many bars
_SAME = 1e-9   # novelty values this close (relative) are one plateau


@dataclass(frozen=True)
class ProbeSettings:
    """How novelty curves are made and read."""

    frames: str = "columns"          # "columns" (patch columns) or "windows" (whole windows)
    kernel_bars: float = 2.0         # checkerboard kernel half-width L, in bars
    taper: float = 0.5               # Gaussian taper of the kernel (Müller's `var`; smaller = narrower)
    threshold: float = 0.1           # a peak must reach this share of the piece's largest novelty
    min_distance_bars: float = 1.0   # of two peaks closer than this, the weaker is dropped
    tolerance_bars: float = 1.0      # a boundary within this of a phrase end is a hit


# ---------------------------------------------------------------------------------------------
# Novelty, peaks and scoring (pure numpy)

def checkerboard_kernel(half: int, taper: float = 0.5) -> np.ndarray:
    """(2L+1, 2L+1) Gaussian-tapered checkerboard: +g(a)g(b) where a, b have the same sign, −g(a)g(b) across,
    0 on the centre row and column (Müller's compute_kernel_checkerboard_gaussian, unnormalised)."""
    if half < 1:
        raise ValueError(f"the kernel half-width must be at least 1 frame, got {half}")
    axis = np.arange(-half, half + 1, dtype=np.float64)
    g = _taper(half, taper)
    return np.outer(np.sign(axis), np.sign(axis)) * np.outer(g, g)


def _taper(half: int, taper: float) -> np.ndarray:
    """The kernel's 1-D Gaussian over offsets -L..L: exp(-(a / (L * taper))^2 / 2)."""
    axis = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-0.5 * (axis / (half * taper)) ** 2)


def novelty(sim: np.ndarray, half: int, taper: float = 0.5) -> np.ndarray:
    """(F, F) similarity -> (F,) novelty: within-side minus across-side Gaussian-weighted mean similarity.

    Around frame i, "before" is frames i-L..i-1 and "after" i+1..i+L (frame i itself is the kernel's zero centre
    row), both truncated at the ends of the piece. Within = the weighted mean similarity of distinct frames on the
    same side (the diagonal's constant 1 left out, so that a side cut short by the piece's end is not favoured),
    averaged over the sides that have two frames (1 where neither has); across = the weighted mean similarity of
    before against after. A frame with no frame on one side gets 0.
    """
    sim = np.asarray(sim, dtype=np.float64)
    F = len(sim)
    g = _taper(half, taper)
    out = np.zeros(F)
    for i in range(1, F - 1):
        sides = [np.arange(max(0, i - half), i), np.arange(i + 1, min(F, i + half + 1))]
        w = [g[idx - i + half] for idx in sides]
        within = []
        for idx, wi in zip(sides, w):
            if len(idx) > 1:
                ww = np.outer(wi, wi)
                np.fill_diagonal(ww, 0.0)
                within.append(float((sim[np.ix_(idx, idx)] * ww).sum() / ww.sum()))
        ww = np.outer(w[0], w[1])
        across = float((sim[np.ix_(sides[0], sides[1])] * ww).sum() / ww.sum())
        out[i] = (float(np.mean(within)) if within else 1.0) - across
    return out


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of consecutive equal values (equal to within _SAME, relative to the largest)."""
    scale = max(float(np.abs(values).max(initial=0.0)), 1e-300)
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or abs(values[i] - values[start]) > _SAME * scale:
            runs.append((start, i))
            start = i
    return runs


def pick_peaks(times: np.ndarray, values: np.ndarray, threshold: float = 0.1,
               min_distance: float = 1.0) -> np.ndarray:
    """Times of the novelty's peaks, ascending (see the module's docstring for the rule)."""
    times, values = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0)
    top = float(values.max())
    if top <= 0:
        return np.zeros(0)
    runs = _runs(values)
    peaks = []  # (value, time, order)
    for k, (a, b) in enumerate(runs):
        v = values[a]
        left = values[runs[k - 1][0]] if k > 0 else -np.inf
        right = values[runs[k + 1][0]] if k + 1 < len(runs) else -np.inf
        if v > left and v > right and v > 0 and v >= threshold * top:
            peaks.append((v, float(times[a:b].mean()), k))
    kept: list[float] = []
    for v, t, _ in sorted(peaks, key=lambda p: (-p[0], p[2])):
        if all(abs(t - u) >= min_distance - 1e-9 for u in kept):
            kept.append(t)
    return np.array(sorted(kept))


def match_boundaries(reference: Sequence[float], estimated: Sequence[float], tolerance: float) -> int:
    """Size of a maximum one-to-one matching of boundaries at most `tolerance` apart.

    On a line, matching each reference (in order) to the earliest unmatched estimate within reach is maximal,
    so this equals mir_eval.util.match_events' bipartite matching.
    """
    ref, est = np.sort(np.asarray(reference, float)), np.sort(np.asarray(estimated, float))
    tol = tolerance + 1e-9  # bar positions are exact fractions; keep |r - e| == tolerance a hit
    hits, j = 0, 0
    for r in ref:
        while j < len(est) and est[j] < r - tol:
            j += 1
        if j < len(est) and est[j] <= r + tol:
            hits += 1
            j += 1
    return hits


def boundary_scores(reference: Sequence[float], estimated: Sequence[float], tolerance: float = 1.0) -> dict:
    """Precision, recall and F1 of estimated boundaries (mir_eval.segment.detection's rule; 0 when either
    list is empty), with the counts they come from."""
    n_ref, n_est = len(reference), len(estimated)
    hits = match_boundaries(reference, estimated, tolerance) if n_ref and n_est else 0
    return _prf(hits, n_ref, n_est)


def _prf(hits: int, n_ref: int, n_est: int) -> dict:
    p = hits / n_est if n_est and n_ref else 0.0
    r = hits / n_ref if n_est and n_ref else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f, "hits": int(hits), "references": int(n_ref),
            "estimates": int(n_est)}


def grid_boundaries(steps: int, steps_per_bar: int, every_bars: int = GRID_BARS) -> np.ndarray:
    """The trivial baseline: a boundary every `every_bars` bars of the roll's grid, inside the piece (bars)."""
    bars = steps / max(steps_per_bar, 1)
    return np.arange(every_bars, bars - 1e-9, every_bars, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Frames

def column_frames(level_emb: np.ndarray, non_empty: np.ndarray, starts: np.ndarray, grid: tuple[int, int],
                  width: int, steps: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, float]:
    """A level's patch columns as frames: (centre steps (F,), vectors (F, D), span in steps).

    Each column of each window is pooled over its non-empty patches; columns that start at the same step (in
    overlapping windows) are averaged. Columns starting at or past `steps` (padding) are left out.
    """
    emb = np.asarray(level_emb, dtype=np.float32)
    W, N, D = emb.shape
    rows, cols = grid
    span = width / cols
    by_col = emb.reshape(W, rows, cols, D).transpose(0, 2, 1, 3).reshape(W * cols, rows, D)
    ne = np.asarray(non_empty, bool).reshape(W, rows, cols).transpose(0, 2, 1).reshape(W * cols, rows)
    vec = pooled_windows(by_col, ne)
    col_start = (np.asarray(starts)[:, None] + np.arange(cols)[None, :] * span).reshape(-1)
    keep = col_start < steps if steps is not None else np.ones(len(col_start), bool)
    uniq, inv = np.unique(col_start[keep], return_inverse=True)
    sums = np.zeros((len(uniq), D), np.float64)
    np.add.at(sums, inv, vec[keep])
    counts = np.bincount(inv, minlength=len(uniq))[:, None]
    return uniq + span / 2, sums / counts, span


def window_frames(level_emb: np.ndarray, non_empty: np.ndarray, starts: np.ndarray,
                  width: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Whole windows as frames: (centre steps, pooled vectors, span = the window width)."""
    return np.asarray(starts) + width / 2, pooled_windows(level_emb, non_empty), float(width)


def roll_frames(array: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The raw piano roll cut into consecutive `span`-step frames (the last one zero-padded), each flattened."""
    a = np.asarray(array, dtype=np.float32)
    T = a.shape[1]
    n = max(1, math.ceil(T / span))
    padded = np.zeros((a.shape[0], n * span), np.float32)
    padded[:, :T] = a
    vec = padded.reshape(a.shape[0], n, span).transpose(1, 0, 2).reshape(n, -1)
    return np.arange(n) * span + span / 2, vec, float(span)


MIN_FRAMES = 3  # fewer frames give no novelty curve


@dataclass
class Track:
    """One novelty curve and the boundaries read from it; times in bars."""

    name: str
    times: np.ndarray        # frame centres (bars)
    novelty: np.ndarray      # (F,)
    boundaries: np.ndarray   # peak times (bars)
    half_width: int          # kernel half-width in frames
    span_bars: float         # how much music one frame summarises
    level: Optional[int] = None  # None for baselines

    @property
    def has_curve(self) -> bool:
        """Is there a novelty curve? A frame's novelty needs frames on both sides of it: three frames at least."""
        return len(self.times) >= MIN_FRAMES


def track(name: str, centres: np.ndarray, vectors: np.ndarray, span: float, steps_per_bar: int,
          settings: ProbeSettings = ProbeSettings(), level: Optional[int] = None) -> Track:
    """Novelty and boundaries of one frame sequence (centres in steps)."""
    spbar = max(steps_per_bar, 1)
    times = np.asarray(centres, dtype=np.float64) / spbar
    hop = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    half = max(1, int(round(settings.kernel_bars / hop)))
    nov = novelty(self_similarity(vectors), half, settings.taper) if len(times) else np.zeros(0)
    peaks = pick_peaks(times, nov, settings.threshold, settings.min_distance_bars)
    return Track(name, times, nov, peaks, half, span / spbar, level)


def piece_tracks(piece, roll, grids: Sequence[tuple[int, int]], width: int,
                 settings: ProbeSettings = ProbeSettings()) -> list[Track]:
    """Every level's track (coarsest first), then the raw piano roll's (1-bar frames) as a baseline.

    `piece` is an inference.PieceEncoding of `roll` (any object with starts, level_emb and level_non_empty).
    """
    if settings.frames not in ("columns", "windows"):
        raise ValueError(f"frames must be 'columns' or 'windows', not {settings.frames!r}")
    spbar = roll.steps_per_bar
    out = []
    for k, (emb, ne) in enumerate(zip(piece.level_emb, piece.level_non_empty)):
        if settings.frames == "columns":
            c, v, span = column_frames(emb, ne, piece.starts, tuple(grids[k]), width, roll.steps)
        else:
            c, v, span = window_frames(emb, ne, piece.starts, width)
        rows, cols = grids[k]
        out.append(track(f"level {k} ({rows}×{cols})", c, v, span, spbar, settings, level=k))
    c, v, span = roll_frames(roll.array, spbar)
    out.append(track("piano roll, 1-bar frames", c, v, span, spbar, settings))
    return out


# ---------------------------------------------------------------------------------------------
# The labelled set

def roll_key(array: np.ndarray) -> str:
    """Content hash of a binary roll (shape and notes), to recognise a labelled piece however it arrives."""
    a = np.asarray(array) > 0
    return hashlib.sha1(f"{a.shape}".encode() + np.packbits(a).tobytes()).hexdigest()


def load_labels(path: str | Path | None = None) -> dict:
    """The labelled set's JSON (default: the shipped assets/phrase_labels.json)."""
    return json.loads(Path(path or LABELS).read_text())


def reference_bars(piece: dict) -> np.ndarray:
    """A labelled piece's phrase ends in bars, the piece's final fermata left out."""
    return np.array([e["bar"] for e in piece["phrase_ends"] if not e["final"]], dtype=np.float64)


_BY_KEY: dict[str, dict] = {}   # roll_key of a labelled roll -> its piece
_BY_FILE: dict[str, dict] = {}  # SHA-1 of a labelled piece's MIDI file (assets/phrases) -> its piece
_LOADED: list[bool] = []        # the two above were filled (once per process)


def labels_for_roll(roll) -> Optional[dict]:
    """The labelled piece whose roll this is, else None: a roll with the labelled notes (read at the labels' steps
    per beat, untransposed), or one read from a labelled chorale's own MIDI file at any resolution or transposition
    (its phrase ends are in bars, which neither changes)."""
    if not _LOADED and LABELS.is_file():
        _LOADED.append(True)
        for p in load_labels()["pieces"]:
            if "roll_sha1" in p:
                _BY_KEY[p["roll_sha1"]] = p
            midi = MIDI_DIR / str(p.get("name", ""))
            if midi.is_file():
                _BY_FILE[hashlib.sha1(midi.read_bytes()).hexdigest()] = p
    return _BY_KEY.get(roll_key(roll.array)) or _BY_FILE.get(getattr(roll, "source_sha1", "") or "-")


def _held_out(meta: dict, chorales: Sequence[str] = ()) -> Optional[set]:
    """The chorales (of `chorales`) the checkpoint's run did not train on, from the split its metadata records;
    None without a record. A run that records its training names is exact; an older one records only its
    validation and test names, and where none of those is a labelled chorale its files held none (a run on other
    music): every chorale is then held out, not "trained"."""
    data = meta.get("data") if isinstance(meta, dict) else None
    if not isinstance(data, dict):
        return None
    trained = data.get("train_names")
    if isinstance(trained, list):
        return set(chorales) - set(map(str, trained))
    names = {str(n) for k in ("val_names", "test_names") for n in (data.get(k) or [])}
    if not (names or "val_names" in data):
        return None
    return names if names & set(chorales) else set(chorales) | names


def score_labelled(bundle, settings: ProbeSettings = ProbeSettings(), labels: Optional[dict] = None,
                   midi_dir: str | Path | None = None, names: Optional[Sequence[str]] = None,
                   progress: Optional[Callable[[float], None]] = None) -> dict:
    """Score every level of `bundle`'s encoder (and the baselines) on the labelled chorales.

    Returns {"settings", "pieces": [per piece: name, held_out, per track P/R/F1], "summary": {group: {track:
    micro precision/recall/F1 over all boundaries and mean per-piece F1}}} for the groups "all", "held out" and
    "trained" (held out = in the checkpoint's recorded validation or test names; without such a record only
    "all" is given).
    """
    from .inference import encode_piece
    from .pianoroll import midi_to_roll

    labels = labels or load_labels()
    midi_dir = Path(midi_dir) if midi_dir is not None else MIDI_DIR
    held = _held_out(getattr(bundle, "meta", {}) or {}, [p["name"] for p in labels["pieces"]])
    cfg = bundle.model_config
    spb = cfg.steps_per_beat or 4
    chosen = [p for p in labels["pieces"] if names is None or p["name"] in set(names)]
    rows = []
    for i, p in enumerate(chosen):
        roll = midi_to_roll(midi_dir / p["name"], steps_per_beat=spb)
        piece = encode_piece(bundle.encoder, roll)
        ref = reference_bars(p)
        tracks = piece_tracks(piece, roll, cfg.level_grids, cfg.window_steps, settings)
        scores = {t.name: boundary_scores(ref, t.boundaries, settings.tolerance_bars) for t in tracks}
        scores[f"every {GRID_BARS} bars"] = boundary_scores(ref, grid_boundaries(roll.steps, roll.steps_per_bar),
                                                            settings.tolerance_bars)
        rows.append({"name": p["name"], "held_out": None if held is None else p["name"] in held,
                     "bars": roll.bars, "phrase_ends": len(ref), "scores": scores})
        if progress is not None:
            progress((i + 1) / len(chosen))
    groups = {"all": rows}
    if held is not None:
        groups["held out"] = [r for r in rows if r["held_out"]]
        groups["trained"] = [r for r in rows if not r["held_out"]]
    summary = {g: _summarise(rs) for g, rs in groups.items() if rs}
    return {"settings": asdict(settings), "pieces": rows, "summary": summary,
            "published": {"f1": PUBLISHED_F1, "source": PUBLISHED_SOURCE}}


def _summarise(rows: list[dict]) -> dict:
    out = {}
    for name in rows[0]["scores"]:
        s = [r["scores"][name] for r in rows]
        micro = _prf(sum(x["hits"] for x in s), sum(x["references"] for x in s), sum(x["estimates"] for x in s))
        out[name] = {**micro, "mean_piece_f1": float(np.mean([x["f1"] for x in s])), "pieces": len(s)}
    return out


def summary_rows(summary: dict, group: str = "all") -> list[dict]:
    """Table rows (one per track) of one group of score_labelled's summary."""
    return [{"Frames": name, "Precision": round(s["precision"], 3), "Recall": round(s["recall"], 3),
             "F1": round(s["f1"], 3), "Mean F1 per piece": round(s["mean_piece_f1"], 3),
             "Boundaries found": s["estimates"], "Phrase ends": s["references"]}
            for name, s in summary[group].items()]


@dataclass
class PieceProbe:
    """One piece's tracks, and its scores where it is a labelled chorale."""

    tracks: list[Track]
    labels: Optional[dict] = None
    scores: dict = field(default_factory=dict)

    @property
    def reference(self) -> Optional[np.ndarray]:
        """Phrase ends (bars) of a labelled piece."""
        return reference_bars(self.labels) if self.labels is not None else None


def probe_piece(piece, roll, cfg, settings: ProbeSettings = ProbeSettings()) -> PieceProbe:
    """The tracks of an encoded piece, scored when the roll is one of the labelled chorales."""
    tracks = piece_tracks(piece, roll, cfg.level_grids, cfg.window_steps, settings)
    lab = labels_for_roll(roll)
    out = PieceProbe(tracks, lab)
    if lab is not None:
        ref = reference_bars(lab)
        out.scores = {t.name: boundary_scores(ref, t.boundaries, settings.tolerance_bars) for t in tracks}
        out.scores[f"every {GRID_BARS} bars"] = boundary_scores(
            ref, grid_boundaries(roll.steps, roll.steps_per_bar), settings.tolerance_bars)
    return out


def _round(v):
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def cli(a) -> int:
    """`midi-rae phrases`: the labelled set's scores per level (no FILES), or each file's boundaries per level."""
    import sys

    from .checkpoint import load_model

    bundle = load_model(a.checkpoint)
    settings = ProbeSettings(frames=a.frames, tolerance_bars=float(a.tolerance_bars))
    if not a.files:
        if not LABELS.is_file():
            print(f"error: the labelled set ({LABELS}) is not installed.", file=sys.stderr)
            return 1
        r = score_labelled(bundle, settings)
        r = {"checkpoint": bundle.source, **r}
        if a.json:
            print(json.dumps(_round(r)))
            return 0
        n = len(r["pieces"])
        print(f"phrase probe: {n} Bach chorales (music21 corpus; phrase ends = ends of fermata chords, the final one "
              f"left out), tolerance ±{settings.tolerance_bars:g} bar, frames: {settings.frames}; "
              f"checkpoint {bundle.source}")
        print(f"published reference: F1 {PUBLISHED_F1} ({PUBLISHED_SOURCE}; another corpus and protocol)")
        for group in r["summary"]:
            pieces = next(iter(r["summary"][group].values()))["pieces"]
            print(f"\n{group} ({pieces} chorales)")
            _print_rows(summary_rows(r["summary"], group))
        held = [p["name"] for p in r["pieces"] if p["held_out"] is False]
        if held:
            print(f"\ntrained on by this checkpoint ({len(held)}): {' '.join(held)}")
        return 0
    from .inference import encode_piece
    from .png_rolls import holds_png, read_roll

    cfg = bundle.model_config
    out = []
    for f in a.files:
        roll = read_roll(f, steps_per_beat=cfg.steps_per_beat or 4)  # MIDI or a PNG piano roll
        probe = probe_piece(encode_piece(bundle.encoder, roll), roll, cfg, settings)
        out.append({"file": str(f), "labelled": None if probe.labels is None else probe.labels["corpus_path"],
                    "png": holds_png(f), "steps_per_bar": roll.steps_per_bar,
                    # bar numbers as the page and the report give them, 1 = the first bar (named so: the labels'
                    # file counts its "bar" from 0, the roll's first step)
                    "boundary_bar_numbers": {t.name: [round(float(b) + 1, 4) for b in t.boundaries] for t in probe.tracks},
                    "scores": _round(probe.scores) if probe.labels is not None else None})
    if a.json:
        print(json.dumps({"checkpoint": bundle.source, "settings": asdict(settings), "files": out}))
        return 0
    for o in out:
        where = ("boundaries at steps (a PNG roll has steps, not bars)" if o["png"] else
                 "boundaries at bar numbers (1 = the first bar; a fraction is part-way into that bar)")
        print(f"{o['file']}" + (f" (labelled chorale {o['labelled']})" if o["labelled"] else "") + f": {where}")
        score = lambda s: f"  F1 {s['f1']:.3f} (P {s['precision']:.3f}, R {s['recall']:.3f})"  # noqa: E731
        for name, bs in o["boundary_bar_numbers"].items():
            s = o["scores"][name] if o["scores"] else None
            at = [round((b - 1) * o["steps_per_bar"]) for b in bs] if o["png"] else bs
            print(f"  {name:<26} {', '.join(f'{b:g}' for b in at) or '—'}{score(s) if s else ''}")
        for name, s in (o["scores"] or {}).items():  # the baselines the page and the report score beside the tracks
            if name not in o["boundary_bar_numbers"]:
                print(f"  {name:<26} (a baseline){score(s)}")
    return 0


def _print_rows(rows: list[dict]) -> None:
    cols = list(rows[0])
    width = {c: max(len(c), 26 if c == "Frames" else 6) for c in cols}
    print("  ".join(f"{c:<{width[c]}}" if c == "Frames" else f"{c:>{width[c]}}" for c in cols))
    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    for r in rows:
        print("  ".join(f"{r[c]:<{width[c]}}" if c == "Frames" else f"{cell(r[c]):>{width[c]}}" for c in cols))
