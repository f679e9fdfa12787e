"""The two piano rolls of the piece view (the whole piece, and the window) as a custom component that stays on
the page: one image with outlines and grid lines over it, a hover that names pitch and time, a click.

A plotly chart is mounted anew whenever its figure changes (Streamlit keys the chart by a hash of the figure),
so every window step drew both rolls again from scratch, and every click on a patch drew the window again. This
component keeps its DOM across reruns: a window step moves the overview's outline and swaps the window's image,
a selection adds outlines. The HTML export still carries the plotly figures (`midi_rae.figures.roll_overview`,
`window_roll`), built when exporting.

The browser computes what a click means from what it was given to draw (a bar of the overview; a patch of the
window at the selection level) and sends it as a one-run trigger value.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from midi_rae.figures import (BACKGROUND, HIGHLIGHT, HIGHLIGHT_FILL, MARK_COLOUR, NOTE, overview_bar_ticks,
                              overview_raster, pitch_landmarks, window_time_grid)
from midi_rae.pianoroll import note_name, time_unit
from midi_rae.rasters import paint, png

from . import triggers
from .image_row import data_uri

OVERVIEW, WINDOW = "overview_strip", "window_strip"  # the two instances' keys (fixed: the browser keeps them)
PLOT_HEIGHT = {OVERVIEW: 180, WINDOW: 280}  # pixels of roll; the title and the time axis come on top

_HTML = """<div class="strip">
  <div class="title"></div>
  <div class="frame">
    <div class="pitches"></div>
    <div class="plot" tabindex="0">
      <img class="roll" alt="piano roll" draggable="false">
      <div class="lines"></div>
      <div class="boxes"></div>
      <div class="cell"></div>
      <div class="drag"></div>
      <div class="tip"></div>
    </div>
  </div>
  <div class="times"></div>
</div>"""

_CSS = f"""
/* text in the theme's colour (a dark theme's light text): the roll image keeps its own white ground */
.strip {{ font-family: var(--st-font, sans-serif); font-size: 12px; color: var(--st-text-color, #444); user-select: none; }}
.title {{ font-size: 14px; font-weight: 600; color: var(--st-text-color, #262730); margin: 0 0 6px 0; white-space: nowrap;
          overflow: hidden; text-overflow: ellipsis; }}
.frame {{ display: grid; grid-template-columns: 50px 1fr; margin-right: 10px; }}
.pitches {{ position: relative; }}
.pitches span {{ position: absolute; right: 6px; transform: translateY(-50%); }}
.plot {{ position: relative; border: 1px solid #bbbbbb; overflow: hidden; cursor: pointer; }}
.plot:focus-visible {{ outline: 2px solid var(--st-primary-color, #2c7fb8); outline-offset: 2px; }}
.roll {{ position: absolute; inset: 0; width: 100%; height: 100%; image-rendering: pixelated; }}
.lines div {{ position: absolute; top: 0; bottom: 0; width: 0; pointer-events: none; }}
.lines .bar {{ border-left: 1.2px solid rgba(0,0,0,0.40); }}
.lines .beat {{ border-left: 0.6px solid rgba(0,0,0,0.13); }}
.boxes div, .cell, .drag {{ position: absolute; box-sizing: border-box; pointer-events: none; }}
/* the window and the marks span every pitch: edges at the sides only, so that none covers a note of the
   lowest or highest row shown (a piece reaching pitch 0 or 127 drew those notes under them) */
.boxes .window {{ background: {HIGHLIGHT_FILL.format(0.18)}; border: solid {HIGHLIGHT}; border-width: 0 2px; }}
.boxes .mark {{ background: rgba(31,119,180,0.15); border: dotted {MARK_COLOUR}; border-width: 0 1.5px;
                color: {MARK_COLOUR}; font-size: 11px; font-weight: 600; text-align: center; white-space: nowrap;
                text-shadow: 0 0 2px #fff, 0 0 2px #fff; }}  /* the neighbours' ranks: legible over notes */
.boxes .highlight {{ background: {HIGHLIGHT_FILL.format(0.12)}; border: 2.5px solid {HIGHLIGHT}; }}
.cell {{ display: none; border: 1.5px solid {HIGHLIGHT_FILL.format(0.7)}; }}
.drag {{ top: 0; bottom: 0; display: none; background: rgba(0,0,0,0.08); border: 1px dashed #666; }}
.tip {{ position: absolute; display: none; pointer-events: none; background: var(--st-background-color, #fff);
        border: 1px solid #999; padding: 1px 5px; white-space: nowrap; font-size: 12px; color: var(--st-text-color, #222); }}
.times {{ position: relative; height: 30px; margin: 0 10px 0 50px; }}
.times span {{ position: absolute; top: 3px; transform: translateX(-50%); white-space: nowrap; }}
.times .label {{ left: 50%; top: 16px; }}
"""

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector('.strip');
  root.__data = data;
  const plot = root.querySelector('.plot');
  const pc = (f) => (100 * f) + '%';
  const place = (el, [x0, x1, y0, y1]) => {
    el.style.left = pc(x0); el.style.width = pc(x1 - x0); el.style.top = pc(y0); el.style.height = pc(y1 - y0);
  };
  const fill = (el, items, make) => { el.innerHTML = ''; for (const item of items) el.appendChild(make(item)); };
  const make = (tag, text, cls) => {
    const e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; };

  root.querySelector('.title').textContent = data.title;
  root.querySelector('.plot').setAttribute('aria-label', data.title + (data.grid
    ? '. Arrow keys move a cursor over the patches; Enter selects the patch under it.'
    : '. Left and right arrow keys move the window ' +
      (data.x_steps ? 'a block of ' + Math.round(data.x_steps / data.n_bars) + ' steps.' : 'a bar.')));
  plot.style.height = data.height + 'px';
  const img = root.querySelector('.roll');
  if (img.getAttribute('src') !== data.image) img.setAttribute('src', data.image);
  img.setAttribute('alt', 'Piano roll: ' + data.title);  // which roll, for a screen reader (both said "piano roll")
  const axes = JSON.stringify([data.x_ticks, data.y_ticks, data.x_title, data.lines]);
  if (root.__axes !== axes) {  // only a new piece, resolution or window changes the axes
    root.__axes = axes;
    fill(root.querySelector('.times'), [...data.x_ticks, [0.5, data.x_title, 'label']], ([f, text, cls]) => {
      const s = make('span', text, cls); s.style.left = pc(f); return s; });
    fill(root.querySelector('.pitches'), data.y_ticks, ([f, text]) => {
      const s = make('span', text); s.style.top = pc(f); return s; });
    fill(root.querySelector('.lines'), data.lines, ([f, kind]) => {
      const s = make('div', '', kind); s.style.left = pc(f); return s; });
  }
  fill(root.querySelector('.boxes'), data.boxes, ([x0, x1, y0, y1, kind, label]) => {
    const s = make('div', label, kind); place(s, [x0, x1, y0, y1]); return s; });

  if (root.__wired) return;  // the handlers read root.__data, so they are attached once
  root.__wired = true;
  const tip = root.querySelector('.tip'), drag = root.querySelector('.drag'), cell = root.querySelector('.cell');
  const at = (ev) => {
    const r = plot.getBoundingClientRect(), d = root.__data;
    const fx = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 0.999999);
    const fy = Math.min(Math.max((ev.clientY - r.top) / r.height, 0), 0.999999);
    const pitch = d.hi - Math.floor(fy * (d.hi - d.lo + 1));
    return { fx, fy, pitch, x: ev.clientX - r.left, y: ev.clientY - r.top };
  };
  const when = (d, fx) => d.x_labels ? d.x_labels[Math.floor(fx * d.x_labels.length)]
    : d.x_steps ? 'step ' + Math.floor(fx * d.x_steps) : 'bar ' + (1 + fx * d.n_bars).toFixed(1);
  const patch = (d, p) => {  // the patch of the window's grid under a point, and its outline in plot fractions
    const g = d.grid, step = Math.floor(p.fx * g.width), n = d.hi - d.lo + 1;
    const c = Math.floor(step / g.size_c), r = Math.floor(p.pitch / g.size_r);
    const top = (d.hi + 1 - (r + 1) * g.size_r) / n, bottom = (d.hi + 1 - r * g.size_r) / n;
    return { index: r * g.cols + c, box: [c * g.size_c / g.width, (c + 1) * g.size_c / g.width,
                                          Math.max(top, 0), Math.min(bottom, 1)] };
  };
  let down = null;
  plot.addEventListener('mousemove', (ev) => {
    const p = at(ev), d = root.__data;
    tip.style.display = 'block';
    tip.textContent = d.names[p.pitch - d.lo] + ' · ' + when(d, p.fx);
    tip.style.left = Math.min(p.x + 12, plot.clientWidth - tip.offsetWidth - 2) + 'px';
    tip.style.top = Math.max(p.y - 24, 0) + 'px';
    if (d.grid) { cell.style.display = 'block'; place(cell, patch(d, p).box); }
    if (down && !d.grid) {
      drag.style.display = 'block';
      drag.style.left = Math.min(down.x, p.x) + 'px'; drag.style.width = Math.abs(p.x - down.x) + 'px';
    }
  });
  plot.addEventListener('mouseleave', () => { tip.style.display = 'none'; cell.style.display = 'none'; });
  // the keyboard: on the window, a cursor over the patches of the selection grid (Enter selects); on the
  // overview, the window a bar earlier or later
  const cursorBox = (d, k) => {
    const g = d.grid, n = d.hi - d.lo + 1;
    return [k.c * g.size_c / g.width, (k.c + 1) * g.size_c / g.width,
            Math.max((d.hi + 1 - (k.r + 1) * g.size_r) / n, 0), Math.min((d.hi + 1 - k.r * g.size_r) / n, 1)];
  };
  const showCursor = (d, k) => {
    cell.style.display = 'block'; place(cell, cursorBox(d, k));
    const pitch = Math.min(Math.max(k.r * d.grid.size_r, d.lo), d.hi);
    tip.style.display = 'block';
    tip.textContent = d.names[pitch - d.lo] + ' · ' + when(d, (k.c + 0.5) * d.grid.size_c / d.grid.width);
    tip.style.left = '2px'; tip.style.top = '2px';
  };
  plot.addEventListener('blur', () => { tip.style.display = 'none'; cell.style.display = 'none'; });
  plot.addEventListener('keydown', (ev) => {
    const d = root.__data, keys = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Enter', ' '];
    if (!keys.includes(ev.key)) return;
    ev.preventDefault();
    if (!d.grid) {
      const win = d.boxes.find((b) => b[4] === 'window');
      if (!win || !(ev.key === 'ArrowLeft' || ev.key === 'ArrowRight')) return;
      const now = Math.round(win[0] * d.n_bars) + 1, last = Math.max(1, Math.ceil(d.n_bars));
      const bar = Math.min(Math.max(now + (ev.key === 'ArrowRight' ? 1 : -1), 1), last);
      if (bar !== now) setTriggerValue('click', { bar });
      return;
    }
    const g = d.grid, rLo = Math.floor(d.lo / g.size_r), rHi = Math.floor(d.hi / g.size_r);
    // the cursor is kept as a place (a step and a pitch), so that on another level's grid it is the patch there
    const was = root.__cursor;
    const k = was ? { c: Math.floor(was.step / g.size_c), r: Math.floor(was.pitch / g.size_r) }
                  : { r: Math.floor((rLo + rHi) / 2), c: 0 };
    k.c = Math.min(Math.max(k.c, 0), g.cols - 1); k.r = Math.min(Math.max(k.r, rLo), rHi);
    if (ev.key === 'Enter' || ev.key === ' ') { setTriggerValue('click', { patch: k.r * g.cols + k.c }); return; }
    if (was) {
      k.c = Math.min(Math.max(k.c + (ev.key === 'ArrowRight') - (ev.key === 'ArrowLeft'), 0), g.cols - 1);
      k.r = Math.min(Math.max(k.r + (ev.key === 'ArrowUp') - (ev.key === 'ArrowDown'), rLo), rHi);
    }
    root.__cursor = { step: (k.c + 0.5) * g.size_c, pitch: (k.r + 0.5) * g.size_r };
    showCursor(d, k);
  });
  plot.addEventListener('mousedown', (ev) => { down = at(ev); ev.preventDefault(); });
  window.addEventListener('mouseup', (ev) => {
    if (!down) return;
    const start = down, end = at(ev), d = root.__data;
    down = null; drag.style.display = 'none';
    if (d.grid) { setTriggerValue('click', { patch: patch(d, start).index }); return; }
    // the overview: a click picks the bar under it; a drag picks the bar where the dragged span starts
    const fx = Math.abs(end.x - start.x) < 4 ? start.fx : Math.min(start.fx, end.fx);
    const bar = Math.min(Math.max(Math.floor(1 + fx * d.n_bars), 1), Math.max(1, Math.ceil(d.n_bars)));
    setTriggerValue('click', { bar });
  });
}
"""

_COMPONENT = st.components.v2.component("midi_rae_roll", html=_HTML, css=_CSS, js=_JS)


RESTRUCK = "#7d8da1"  # a repeated note's first step: lighter than NOTE, so that the note before it ends visibly


def _image(rows: np.ndarray, restruck: Optional[np.ndarray] = None) -> str:
    """0/1 rows, lowest pitch first, as a PNG data URI with the highest pitch on top; `restruck` (same shape) steps
    in the lighter RESTRUCK."""
    codes = (np.asarray(rows) > 0).astype(np.uint8)
    if restruck is not None:
        codes[np.asarray(restruck, dtype=bool) & (codes > 0)] = 2
    return data_uri(png(paint(codes, [BACKGROUND, NOTE, RESTRUCK])))


def _pitch_axis(lo: int, hi: int) -> dict:
    """Hover names of rows lo..hi and the labelled ones (Cs, else the two ends) as fractions from the top."""
    pos, names = pitch_landmarks(lo, hi)
    rows = hi - lo + 1
    return {"lo": lo, "hi": hi, "names": [note_name(p) for p in range(lo, hi + 1)],
            "y_ticks": [[(hi - p + 0.5) / rows, n] for p, n in zip(pos, names)]}


@st.cache_data(max_entries=32, show_spinner=False)
def _overview_base(roll_key: tuple, _roll) -> dict:
    """The piece's part of the overview: its image, pitch range and axes (the same for every window)."""
    pooled, _, lo, hi = overview_raster(_roll.array)
    n_bars = max(_roll.array.shape[1], 1) / max(_roll.steps_per_bar, 1)
    # a PNG roll has no bars: its axis and hover name steps (from 0), at the same tick places
    name = (lambda b: str((b - 1) * _roll.steps_per_bar)) if _roll.steps_only else str
    return {"image": _image(pooled), "n_bars": float(n_bars), "x_labels": None, "lines": [],
            "x_title": time_unit(_roll), "x_steps": _roll.steps if _roll.steps_only else None,
            "x_ticks": [[(b - 1) / n_bars, name(b)] for b in overview_bar_ticks(n_bars)], **_pitch_axis(lo, hi)}


MARK_LABEL_GAP = 0.015  # marks whose centres are closer than this share of the piece share one label


def mark_labels(marks: list, total: int) -> list[str]:
    """The rank label of each mark (1 = nearest), those of marks that overlap or nearly touch joined on the
    leftmost of them ("3,4,8", the others blank): side by side their numbers were drawn over each other."""
    groups: list[list[int]] = []
    for k in sorted(range(len(marks)), key=lambda k: marks[k][0]):
        (s, w), (ps, pw) = marks[k], marks[groups[-1][-1]] if groups else (None, None)
        if groups and (s < ps + pw or (s + w / 2 - ps - pw / 2) / total < MARK_LABEL_GAP):
            groups[-1].append(k)
        else:
            groups.append([k])
    labels = [""] * len(marks)
    for g in groups:
        labels[g[0]] = _ranks(sorted(k + 1 for k in g))
    return labels


def _ranks(ranks: list[int]) -> str:
    """"1–4,7": runs of three or more consecutive ranks as a range (eight neighbours in one coarse patch's bars
    were "1,2,3,4,5,6,7,8")."""
    runs: list[list[int]] = []
    for r in ranks:
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    return ",".join(f"{run[0]}–{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)) for run in runs)


def overview_data(roll_key: tuple, roll, start: int, width: int, marks: list, title: str) -> dict:
    """Everything the overview draws: the piece, the window and the marks (neighbours, numbered by rank)."""
    base = _overview_base(roll_key, roll)
    total = max(base["n_bars"] * max(roll.steps_per_bar, 1), 1)
    boxes = [[start / total, (start + width) / total, 0, 1, "window", ""]]
    boxes += [[s / total, (s + w) / total, 0, 1, "mark", label]
              for (s, w), label in zip(marks, mark_labels(marks, total))]
    return {**base, "title": title, "height": PLOT_HEIGHT[OVERVIEW], "boxes": boxes, "grid": None}


def window_data(window: np.ndarray, start: int, steps_per_beat: int, beats_per_bar: int, pitch_range: tuple,
                rects: list, grid: tuple, title: str, steps_only: bool = False,
                restruck: Optional[np.ndarray] = None) -> dict:
    """Everything the window draws: its notes in `pitch_range` (with `restruck`, a repeated note's first step
    lighter: pianoroll.restruck_at), bar and beat lines, the selected patches (half-open (row0, col0, row1, col1)
    in pitches and steps) and the patch grid a click selects on. A PNG roll's (`steps_only`) time axis and hover
    name steps, its lines fall every block of a nominal bar's steps."""
    lo, hi = pitch_range
    width = window.shape[1]
    labels, ticks, lines = window_time_grid(start, width, steps_per_beat, beats_per_bar)
    if steps_only:
        labels = [f"step {s}" for s in range(start, start + width)]
    n = hi - lo + 1
    boxes = [[c0 / width, c1 / width, max(hi + 1 - r1, 0) / n, min(hi + 1 - r0, n) / n, "highlight", ""]
             for r0, c0, r1, c1 in rects if r1 > lo and r0 <= hi]
    gr, gc = (grid, grid) if isinstance(grid, (int, np.integer)) else grid
    return {"title": title, "height": PLOT_HEIGHT[WINDOW], "image": _image(window[lo:hi + 1], None if restruck is None else restruck[lo:hi + 1]),
            "n_bars": None,
            "x_labels": labels, "x_title": "step" if steps_only else "bar:beat",
            "lines": [[k / width, kind] for k, kind in lines if k],
            "x_ticks": [[(k + 0.5) / width, str(start + k) if steps_only else labels[k].split(".")[0]] for k in ticks],
            "boxes": boxes,
            "grid": {"width": width, "cols": int(gc), "size_c": width // int(gc), "size_r": 128 // int(gr)},
            **_pitch_axis(lo, hi)}


def draw(slot, key: str, data: dict) -> None:
    """One of the two rolls into `slot` (at most once per run: its key is fixed, so the browser keeps it)."""
    with slot:
        _COMPONENT(key=key, data=data, on_click_change=triggers.noop, height="content")


def clicked(key: str) -> Optional[dict]:
    """What was clicked in roll `key` ({"bar": b} or {"patch": p}) on the run the click started, else None."""
    return triggers.value(key)
