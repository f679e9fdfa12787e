"""Small tables drawn as static HTML (`st.html`, styled by `TABLE_CSS` in the app's style sheet).

They appear at once, where a data grid first loads a canvas editor in the browser (measured: the grids were the last
things the page drew). Not `st.table` either: it renders every cell as Markdown (a parser and five DOM nodes per
cell), ~0.1 s of the browser's work whenever a piece's tables change (measured; see docs/speed_history.md).
"""
from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from midi_rae.wording import column_decimals

if TYPE_CHECKING:
    import pandas as pd

CLASS = "midi-rae-table"
# secondary text (table headers, tick labels): the theme's text colour at this share keeps WCAG AA's 4.5:1 contrast
# on both themes' backgrounds (60 % gave 3.8:1 on the light theme)
MUTED_PERCENT = 75
MUTED_COLOR = f"color-mix(in srgb, currentColor {MUTED_PERCENT}%, transparent)"

# currentColor keeps the lines and the muted header readable in the light and the dark theme alike
TABLE_CSS = f"""
.{CLASS} {{ overflow-x: auto; border: 1px solid color-mix(in srgb, currentColor 12%, transparent);
  border-radius: 0.5rem; margin-bottom: 1rem; }}
.{CLASS} table {{ border-collapse: collapse; width: 100%; font-size: 0.875rem; }}
.{CLASS} th, .{CLASS} td {{ border-bottom: 1px solid color-mix(in srgb, currentColor 12%, transparent);
  border-right: 1px solid color-mix(in srgb, currentColor 12%, transparent); padding: 0.25rem 0.75rem;
  text-align: left; font-weight: 400; }}
.{CLASS} th {{ color: {MUTED_COLOR}; }}
.{CLASS} th[scope="row"] {{ white-space: nowrap; }}
.{CLASS} tr > :last-child {{ border-right: none; }}
.{CLASS} tbody tr:last-child > * {{ border-bottom: none; }}
"""


MAX_DECIMALS = 4


def _cell(v, decimals: int = 0) -> str:
    """A number with its column's `decimals` (8.82 beside 2.00, not 2); missing as a dash."""
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:,.{decimals}f}"
    return str(v)


def table_html(df: "pd.DataFrame", index: bool = True) -> str:
    """`df` as one HTML table, every cell escaped text, each column's numbers written with one number of decimals;
    the row labels are header cells of their rows (index=False leaves them out)."""
    def cell(tag: str, value, scope: str = "", decimals: int = 0) -> str:
        attrs = f' scope="{scope}"' if scope else ""
        return f"<{tag}{attrs}>{html.escape(_cell(value, decimals))}</{tag}>"

    rows = list(df.itertuples(index=False))
    places = [column_decimals(column, MAX_DECIMALS) for column in zip(*rows)] if rows else []
    head = (cell("th", df.index.name or "", "col") if index else "") + "".join(cell("th", c, "col") for c in df.columns)
    body = "".join("<tr>" + (cell("th", name, "row") if index else "") +
                   "".join(cell("td", v, decimals=d) for v, d in zip(values, places)) + "</tr>"
                   for name, values in zip(df.index, rows))
    return f'<div class="{CLASS}"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def show(container, df: "pd.DataFrame", index: bool = True) -> None:
    """`df` as a static table on `container` (see table_html)."""
    container.html(table_html(df, index))
