"""A plotly chart that stays on the page and is updated in place (`Plotly.react`): the PCA and every other chart of
the piece page.

`st.plotly_chart` keys its chart by a hash of the whole figure, so any change (the rings around the current
window's points after a window step, a selected patch's neighbours) mounts a new chart: plotly builds its axes,
layers and mode bar again and draws every point from scratch, 0.15–0.3 s of a click or a window step on this
project's machine (measured by holding the PCA's figure constant). This component keeps one plotly graph per key
and hands each new figure to `Plotly.react`, which redraws only what differs; traces whose JSON did not change
are passed as the very objects drawn before, so plotly skips them. A zoom or pan survives as long as `revision`
stays the same (plotly's `uirevision`; by default, while the traces stay the same).

plotly.js itself is the copy Streamlit's own plotly chart loads (it sets `window.Plotly`, which stays for the
browser page's life): the piece page's first run draws an empty one for that (page._warm_plotly), and this
component waits for it. A click on a point is sent as a one-run trigger value: the point's customdata.
"""
from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Optional, Union

import streamlit as st

if TYPE_CHECKING:
    import plotly.graph_objects as go

from midi_rae.figures import CHART_CONFIG

from . import session, triggers

_HTML = '<div class="live-plotly"><div class="waiting">Loading the chart…</div><div class="gd"></div></div>'
_CSS = ".live-plotly { width: 100%; } .live-plotly .waiting { color: #888; font-size: 13px; padding: 8px 0; }"

_JS = """
const CONFIG = __CONFIG__;
// Streamlit's theme (its CSS variables): under a dark one the figure's white template is swapped for the page's
// ground and text, so that a chart is not a white box with grey text on a dark page
const rgb = (c) => {
  const h = /^#([0-9a-f]{6})$/i.exec(c);
  if (h) return [0, 2, 4].map((i) => parseInt(h[1].slice(i, i + 2), 16));
  const m = /rgba?\\(([^)]*)\\)/i.exec(c);
  return m ? m[1].split(',').slice(0, 3).map(Number) : null;
};
const theme = (el) => {
  const s = getComputedStyle(el);
  const bg = s.getPropertyValue('--st-background-color').trim(), fg = s.getPropertyValue('--st-text-color').trim();
  const c = rgb(bg);
  return c && fg && (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) < 128 ? { bg, fg } : null;
};
const darken = (layout, t) => {
  const tl = ((layout.template = layout.template || {}).layout = layout.template.layout || {});
  const grid = 'rgba(250, 250, 250, 0.14)', font = (f) => Object.assign({}, f, { color: t.fg });
  tl.paper_bgcolor = tl.plot_bgcolor = 'rgba(0, 0, 0, 0)';
  tl.font = font(tl.font);
  tl.title = Object.assign({}, tl.title, { font: font((tl.title || {}).font) });
  tl.legend = Object.assign({}, tl.legend, { font: font((tl.legend || {}).font) });
  tl.hoverlabel = Object.assign({}, tl.hoverlabel, { bgcolor: t.bg, font: font((tl.hoverlabel || {}).font) });
  const axis = (a) => Object.assign({}, a, { gridcolor: grid, zerolinecolor: grid, tickcolor: grid,
    tickfont: font((a || {}).tickfont), title: Object.assign({}, (a || {}).title, { font: font(((a || {}).title || {}).font) }) });
  tl.xaxis = axis(tl.xaxis); tl.yaxis = axis(tl.yaxis);
  tl.scene = Object.assign({}, tl.scene, { xaxis: axis((tl.scene || {}).xaxis), yaxis: axis((tl.scene || {}).yaxis),
                                             zaxis: axis((tl.scene || {}).zaxis) });
  if (layout.legend && layout.legend.bgcolor) layout.legend.bgcolor = 'rgba(0, 0, 0, 0.5)';
  return layout;
};
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector('.live-plotly');
  root.__data = data;
  const gd = root.querySelector('.gd');
  const draw = () => {
    const P = window.Plotly;
    if (!P) {
      root.__waited = (root.__waited || 0) + 1;
      if (root.__waited === 200)  // 10 s: say so rather than wait silently
        root.querySelector('.waiting').textContent =
          'The charting library has not loaded; reload the page to draw this chart.';
      if (!root.__waiting) root.__waiting = setTimeout(() => { root.__waiting = null; draw(); }, 50);
      return;
    }
    const d = root.__data, dark = theme(root), look = JSON.stringify(dark);
    const drawn = root.__drawn || { traces: [], objects: [], layout: null };
    if (drawn.layout === d.layout && drawn.look === look && drawn.traces.length === d.traces.length
        && d.traces.every((t, i) => t === drawn.traces[i])) return;  // a rerun that changed nothing here
    // a trace whose JSON is what was drawn is passed as the same object, which plotly.react leaves alone
    const objects = d.traces.map((t, i) => (drawn.traces[i] === t ? drawn.objects[i] : JSON.parse(t)));
    const layout = dark ? darken(JSON.parse(d.layout), dark) : JSON.parse(d.layout);
    layout.autosize = true; delete layout.width;
    layout.uirevision = d.revision;
    root.querySelector('.waiting').style.display = 'none';
    // named by its title for a screen reader (plotly's SVG says nothing of what the chart shows)
    const title = String((layout.title && (layout.title.text ?? layout.title)) || '');
    root.setAttribute('role', 'figure');
    root.setAttribute('aria-label', title.replace(/<br\\s*\\/?>/gi, '. ').replace(/<[^>]*>/g, '').trim() || 'chart');
    P.react(gd, objects, layout, Object.assign({ responsive: true }, CONFIG));
    root.__drawn = { traces: d.traces, objects, layout: d.layout, look };
    if (!root.__wired) {  // gd stays the same element, so its handlers are attached once
      root.__wired = true;
      gd.on('plotly_click', (ev) => {
        if (!root.__data.clickable || !ev || !ev.points || !ev.points.length) return;
        const p = ev.points[0];
        if (root.__data.clickable === 'x') {  // a heatmap cell has no customdata of its own: its column says which
          if (typeof p.x === 'number') setTriggerValue('click', { x: p.x });
          return;
        }
        let cd = p.customdata;
        if (cd === undefined || cd === null) return;
        // a row of a 2-D array arrives as a typed array (plotly sends numpy arrays as binary): plain numbers
        if (ArrayBuffer.isView(cd) || Array.isArray(cd)) cd = Array.from(cd, Number);
        setTriggerValue('click', { customdata: cd });
      });
      // not while the chart is hidden or leaving the page (another tab or page): plotly refuses such a div
      new ResizeObserver(() => {
        if (gd._fullLayout && gd.isConnected && gd.offsetParent !== null) P.Plots.resize(gd).catch(() => {});
      }).observe(root);
    }
  };
  draw();
}
""".replace("__CONFIG__", json.dumps(CHART_CONFIG))

_COMPONENT = st.components.v2.component("midi_rae_live_plotly", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)

# What Streamlit's own theme puts over a plotly chart's template (read off the page's `st.plotly_chart`s, light
# theme), so this chart looks like its neighbours: the figure's own settings still win, as they do there.
_AXIS = {"gridcolor": "#e6eaf1", "zerolinecolor": "#e6eaf1", "tickcolor": "#e6eaf1",
         "tickfont": {"color": "#808495", "size": 12}, "title": {"font": {"color": "#808495", "size": 14}}}
_LOOK = {"font": {"color": "#808495", "family": '"Source Sans", sans-serif', "size": 12},
         "title": {"font": {"size": 16, "color": "#2F2D2B"}},
         "hoverlabel": {"bgcolor": "#FFFFFF", "bordercolor": "rgba(47, 45, 43, 0.2)",
                        "font": {"color": "#808495", "size": 12}},
         "legend": {"font": {"size": 12, "color": "#262730"}}, "xaxis": _AXIS, "yaxis": _AXIS,
         "scene": {"xaxis": _AXIS, "yaxis": _AXIS, "zaxis": _AXIS}}


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _streamlit_look(layout: dict) -> dict:
    """`layout` with Streamlit's chart look as its template, and its title in bold as Streamlit draws it."""
    template = layout.get("template") or {}
    layout = {**layout, "template": {**template, "layout": _merged(template.get("layout", {}), _LOOK)}}
    title = layout.get("title")
    if isinstance(title, dict) and title.get("text") and not str(title["text"]).startswith("<b>"):
        layout["title"] = {**title, "text": f"<b>{title['text']}</b>"}
    return layout


# payloads of the last figures drawn, by the figure object: the PCA's figures are cached objects, so a rerun
# that draws the same figure serialises nothing
_PAYLOADS: "OrderedDict[int, tuple[go.Figure, list[str], str]]" = OrderedDict()  # plotly imported when drawing
_MAX_PAYLOADS = 16
_LOCK = threading.Lock()  # sessions run in threads of one process


def payload(fig: "go.Figure") -> tuple[list[str], str]:
    """(each trace as JSON, the layout as JSON) of `fig`, as the browser is sent them."""
    with _LOCK:
        hit = _PAYLOADS.get(id(fig))
        if hit is not None and hit[0] is fig:
            _PAYLOADS.move_to_end(id(fig))
            return hit[1], hit[2]
    from plotly.io.json import to_json_plotly

    spec = fig.to_plotly_json()
    traces = [to_json_plotly(t) for t in spec.get("data", [])]
    layout = to_json_plotly(_streamlit_look(spec.get("layout", {})))
    with _LOCK:
        _PAYLOADS[id(fig)] = (fig, traces, layout)
        while len(_PAYLOADS) > _MAX_PAYLOADS:
            _PAYLOADS.popitem(last=False)
    return traces, layout


def draw(container, fig: "go.Figure", key: str, revision: Optional[str] = None,
         clickable: Union[bool, str] = False) -> None:
    """`fig` into `container` as the chart `key` (fixed per chart: the browser keeps it and updates it in place).

    `clickable`: True sends a click on a point with its customdata (`clicked`), "x" the x value of the point or
    heatmap cell clicked (`clicked_x`). The figure is also kept for the page's HTML export. `revision` names what
    the axes show: while it stays the same, a zoom or pan the person made is kept across updates (default: while
    the traces are the same)."""
    session.run_figures()[key] = fig
    traces, layout = payload(fig)
    if revision is None:
        revision = str(hash(tuple(traces)))  # compared only within this server process
    with container if hasattr(container, "__enter__") else contextlib.nullcontext():  # `st` itself: the main body
        _COMPONENT(key=key, data={"traces": traces, "layout": layout, "revision": revision, "clickable": clickable},
                   on_click_change=triggers.noop, height="content")


def clicked(key: str) -> Optional[list]:
    """The customdata of the point clicked in chart `key`, on the run the click started; else None."""
    click = triggers.value(key)
    if not click or click.get("customdata") is None:
        return None
    cd = click["customdata"]
    return list(cd) if isinstance(cd, (list, tuple)) else [cd]


def clicked_x(key: str) -> Optional[float]:
    """The x value of the point or heatmap cell clicked in chart `key` (drawn with clickable="x"), on the run
    the click started; else None."""
    click = triggers.value(key)
    x = click.get("x") if click else None
    return float(x) if isinstance(x, (int, float)) else None
