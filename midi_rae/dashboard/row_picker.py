"""A small table whose rows are links: a click on a row is sent to the script (the neighbours of a selection).

`st.dataframe` with row selection drew the eight neighbours of a selected patch as a data grid (a canvas that
measures its columns when it mounts), under a key of its own per selection so that a new selection's table
started with no row chosen: every click on a patch, on a PCA point or on a row mounted a new grid. This table is
plain HTML that stays on the page (one fixed key): a new selection replaces its rows, and a click anywhere on a
row is a one-run trigger value, so nothing needs resetting.
"""
from __future__ import annotations

from typing import Optional, Sequence

import streamlit as st

from . import triggers
from .tables import MUTED_COLOR

_HTML = '<div class="row-picker"><table><thead></thead><tbody></tbody></table></div>'
_CSS = """
.row-picker table { border-collapse: collapse; font-size: 14px; color: var(--st-text-color, #31333F); }
.row-picker th { font-weight: 400; color: %s; text-align: left; padding: 4px 14px 4px 8px;
                 border-bottom: 1px solid rgba(128, 128, 128, 0.35); }
.row-picker td { padding: 4px 14px 4px 8px; border-bottom: 1px solid rgba(128, 128, 128, 0.2); white-space: nowrap; }
.row-picker td.num, .row-picker th.num { text-align: right; font-variant-numeric: tabular-nums; }
.row-picker tbody tr { cursor: pointer; }
.row-picker tbody tr:hover { background: rgba(44, 127, 184, 0.10); }
.row-picker tbody tr:focus { outline: 2px solid #2c7fb8; outline-offset: -2px; }
""" % MUTED_COLOR
_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector('.row-picker');
  const text = JSON.stringify([data.columns, data.rows]);
  if (root.__text === text) return;  // a rerun that changed nothing here
  root.__text = text;
  const cell = (tag, value, num) => {
    const e = document.createElement(tag); e.textContent = value; if (num) e.className = 'num'; return e; };
  const head = document.createElement('tr');
  data.columns.forEach((c, j) => head.appendChild(cell('th', c, data.numeric[j])));
  root.querySelector('thead').replaceChildren(head);
  root.querySelector('tbody').replaceChildren(...data.rows.map((row, i) => {
    const tr = document.createElement('tr');
    tr.tabIndex = 0; tr.title = data.hint;
    row.forEach((v, j) => tr.appendChild(cell('td', v, data.numeric[j])));
    const pick = () => setTriggerValue('click', { row: i });
    tr.addEventListener('click', pick);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); } });
    return tr;
  }));
}
"""

_COMPONENT = st.components.v2.component("midi_rae_row_picker", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def draw(key: str, columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
         hint: str = "") -> None:
    """A table of `rows` (texts) under `columns`; `numeric` columns are right-aligned; `hint` is each row's tooltip."""
    _COMPONENT(key=key, data={"columns": list(columns), "rows": [[str(v) for v in r] for r in rows],
                              "numeric": list(numeric), "hint": hint}, on_click_change=triggers.noop, height="content")


def clicked(key: str) -> Optional[int]:
    """The row (0 = first) clicked in table `key`, on the run the click started; else None."""
    click = triggers.value(key)
    try:
        return int(click["row"]) if click else None
    except (KeyError, TypeError, ValueError):
        return None
