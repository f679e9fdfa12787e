"""The whole-piece overview as a custom component that stays on the page: one image, the window and the
nearest neighbours as outlines over it, a click on a bar to move the window.

A plotly chart is mounted anew whenever its figure changes (Streamlit keys the chart by a hash of the figure),
so every window step drew the whole overview again from scratch. This component keeps its DOM across reruns:
a window step moves one outline; the image is swapped only when the piece changes. Its figure for the HTML
export is still the plotly one (`midi_rae.figures.roll_overview`), built when exporting.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from midi_rae.figures import BACKGROUND, HIGHLIGHT, MARK_COLOUR, NOTE, note_ticks, overview_bar_ticks, overview_raster
from midi_rae.pianoroll import note_name
from midi_rae.rasters import png, rgb

from .image_row import data_uri

KEY = "overview_strip"
HEIGHT = 250  # pixels: title, roll and bar numbers

_HTML = """<div class="ov">
  <div class="title"></div>
  <div class="frame">
    <div class="pitches"></div>
    <div class="plot">
      <img class="roll" alt="the whole piece" draggable="false">
      <div class="marks"></div>
      <div class="window"></div>
      <div class="drag"></div>
      <div class="tip"></div>
    </div>
  </div>
  <div class="bars"></div>
</div>"""

_CSS = f"""
.ov {{ font-family: var(--st-font, sans-serif); font-size: 12px; color: #444; user-select: none; }}
.title {{ font-size: 14px; font-weight: 600; color: #262730; margin: 0 0 6px 0; white-space: nowrap;
          overflow: hidden; text-overflow: ellipsis; }}
.frame {{ display: grid; grid-template-columns: 50px 1fr; height: 180px; margin-right: 10px; }}
.pitches {{ position: relative; }}
.pitches span {{ position: absolute; right: 6px; transform: translateY(-50%); }}
.plot {{ position: relative; border: 1px solid #bbbbbb; overflow: hidden; cursor: pointer; }}
.roll {{ position: absolute; inset: 0; width: 100%; height: 100%; image-rendering: pixelated; }}
.window {{ position: absolute; top: 0; bottom: 0; background: rgba(255,127,14,0.18);
           border: 2px solid {HIGHLIGHT}; box-sizing: border-box; pointer-events: none; }}
.marks div {{ position: absolute; top: 0; bottom: 0; background: rgba(31,119,180,0.15);
              border: 1.5px dotted {MARK_COLOUR}; box-sizing: border-box; pointer-events: none;
              color: {MARK_COLOUR}; font-size: 9px; text-align: center; }}
.drag {{ position: absolute; top: 0; bottom: 0; display: none; background: rgba(0,0,0,0.08);
         border: 1px dashed #666; pointer-events: none; }}
.tip {{ position: absolute; display: none; pointer-events: none; background: #fff; border: 1px solid #999;
        padding: 1px 5px; white-space: nowrap; font-size: 12px; color: #222; }}
.bars {{ position: relative; height: 30px; margin: 0 10px 0 50px; }}
.bars span {{ position: absolute; top: 3px; transform: translateX(-50%); }}
.bars .label {{ left: 50%; top: 16px; }}
"""

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector('.ov');
  root.__data = data;
  const plot = root.querySelector('.plot');
  const pct = (bar) => (100 * (bar - 1) / data.n_bars) + '%';
  const span = (el, x0, x1) => { el.style.left = pct(x0); el.style.width = (100 * (x1 - x0) / data.n_bars) + '%'; };

  root.querySelector('.title').textContent = data.title;
  const img = root.querySelector('.roll');
  if (img.getAttribute('src') !== data.image) img.setAttribute('src', data.image);
  const axes = JSON.stringify([data.bar_ticks, data.pitch_ticks, data.n_bars]);
  if (root.__axes !== axes) {
    root.__axes = axes;
    const bars = root.querySelector('.bars');
    bars.innerHTML = '';
    for (const b of data.bar_ticks) {
      const s = document.createElement('span'); s.textContent = b; s.style.left = pct(b); bars.appendChild(s);
    }
    const label = document.createElement('span'); label.className = 'label'; label.textContent = 'bar';
    bars.appendChild(label);
    const pitches = root.querySelector('.pitches');
    pitches.innerHTML = '';
    for (const [top, name] of data.pitch_ticks) {
      const s = document.createElement('span'); s.textContent = name; s.style.top = (100 * top) + '%';
      pitches.appendChild(s);
    }
  }
  const win = root.querySelector('.window');
  win.style.display = data.window ? 'block' : 'none';
  if (data.window) span(win, data.window[0], data.window[1]);
  const marks = root.querySelector('.marks');
  marks.innerHTML = '';
  for (const [x0, x1, label] of data.marks) {
    const m = document.createElement('div'); span(m, x0, x1); m.textContent = label; marks.appendChild(m);
  }

  if (root.__wired) return;  // the handlers read root.__data, so they are attached once
  root.__wired = true;
  const tip = root.querySelector('.tip'), drag = root.querySelector('.drag');
  const at = (ev) => {
    const r = plot.getBoundingClientRect(), d = root.__data;
    const fx = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 0.999999);
    const fy = Math.min(Math.max((ev.clientY - r.top) / r.height, 0), 0.999999);
    const pitch = d.hi - Math.floor(fy * (d.hi - d.lo + 1));
    return { fx, bar: 1 + fx * d.n_bars, name: d.names[pitch - d.lo], x: ev.clientX - r.left, y: ev.clientY - r.top };
  };
  let down = null;
  plot.addEventListener('mousemove', (ev) => {
    const p = at(ev);
    tip.style.display = 'block';
    tip.textContent = p.name + ' · bar ' + p.bar.toFixed(1);
    tip.style.left = Math.min(p.x + 12, plot.clientWidth - tip.offsetWidth - 2) + 'px';
    tip.style.top = Math.max(p.y - 24, 0) + 'px';
    if (down) {
      drag.style.display = 'block';
      drag.style.left = Math.min(down.x, p.x) + 'px'; drag.style.width = Math.abs(p.x - down.x) + 'px';
    }
  });
  plot.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  plot.addEventListener('mousedown', (ev) => { down = at(ev); ev.preventDefault(); });
  window.addEventListener('mouseup', (ev) => {
    if (!down) return;
    const start = down, end = at(ev);
    down = null; drag.style.display = 'none';
    const d = root.__data;
    // a click picks the bar under it; a drag picks the bar where the dragged span starts
    const bar = Math.floor(Math.abs(end.x - start.x) < 4 ? start.bar : Math.min(start.bar, end.bar));
    setTriggerValue('bar', Math.min(Math.max(bar, 1), Math.max(1, Math.ceil(d.n_bars))));
  });
}
"""

_COMPONENT = st.components.v2.component("midi_rae_overview", html=_HTML, css=_CSS, js=_JS)


def _noop() -> None:
    """Trigger values reach the script only for events that have a callback."""


@st.cache_data(max_entries=32, show_spinner=False)
def _roll_image(roll_key: tuple, _roll) -> dict:
    """The piece's part of the data: its image, pitch range and axes (the same for every window)."""
    pooled, _, lo, hi = overview_raster(_roll.array)
    lut = np.stack([rgb(BACKGROUND), rgb(NOTE)])
    image = lut[pooled[::-1]]  # highest pitch on top
    n_bars = max(_roll.array.shape[1], 1) / max(_roll.steps_per_bar, 1)
    pos, names = note_ticks(lo, hi)
    if not pos:  # a narrow range with no C in it still needs some landmarks
        pos, names = [lo, hi], [note_name(lo), note_name(hi)]
    rows = hi - lo + 1
    return {"image": data_uri(png(image)), "n_bars": float(n_bars), "lo": lo, "hi": hi,
            "names": [note_name(p) for p in range(lo, hi + 1)],
            "bar_ticks": overview_bar_ticks(n_bars),
            "pitch_ticks": [[(hi - p + 0.5) / rows, n] for p, n in zip(pos, names)]}


def overview_data(roll_key: tuple, roll, start: int, width: int, marks: list, title: str) -> dict:
    """Everything the component draws: the piece's image and axes, the window and the marks in bars."""
    spbar = max(roll.steps_per_bar, 1)
    return {**_roll_image(roll_key, roll), "title": title,
            "window": [1 + start / spbar, 1 + (start + width) / spbar],
            "marks": [[1 + s / spbar, 1 + (s + w) / spbar, str(k + 1)] for k, (s, w) in enumerate(marks)]}


def draw(slot, data: dict) -> None:
    """The overview into `slot` (once per run: its key is fixed, so the browser keeps it between runs)."""
    with slot:
        _COMPONENT(key=KEY, data=data, on_bar_change=_noop, height=HEIGHT)


def clicked_bar() -> Optional[int]:
    """The bar (1-based) clicked or dragged from in the overview on the run it happened, else None."""
    state = st.session_state.get(KEY)
    bar = state.get("bar") if state is not None else None
    return int(bar) if bar is not None else None
