"""Small tables drawn as static HTML (st.table): they appear at once, where a data grid first loads a
canvas editor in the browser (measured: the grids were the last things the page drew)."""
from __future__ import annotations

import math

import pandas as pd


def _cell(v) -> str:
    """Numbers as a person writes them: 0.707, 31.2, 100 (no padding zeros); missing as a dash."""
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:,.6g}"
    return str(v)


def show(container, df: pd.DataFrame, index: bool = True) -> None:
    """`df` as a static table on `container`; index=False leaves the row labels out (put them in a column).

    Cells go as formatted text: a pandas Styler doing the same cost ~15 ms per table on every rerun.
    """
    container.table(df.map(_cell), hide_index=not index)
