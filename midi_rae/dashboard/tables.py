"""Small tables drawn as static HTML (html_table): they appear at once, where a data grid first loads a canvas
editor in the browser (measured: the grids were the last things the page drew), and stay on the page across runs
where `st.table` drew every cell again as a styled element."""
from __future__ import annotations

import math

import pandas as pd

from . import html_table


def _cell(v) -> str:
    """Numbers as a person writes them: 0.707, 31.2, 100 (no padding zeros); missing as a dash."""
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:,.6g}"
    return str(v)


def show(container, df: pd.DataFrame, key: str, index: bool = True) -> None:
    """`df` as a static table on `container` under widget key `key`; index=False leaves the row labels out (put
    them in a column). Number columns are right-aligned.

    Cells go as formatted text: a pandas Styler doing the same cost ~15 ms per table on every rerun.
    """
    if index:
        df = df.reset_index()
        if df.columns[0] == "index":
            df = df.rename(columns={"index": ""})
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    html_table.draw(key, list(df.columns), df.map(_cell).values.tolist(), numeric, wide=True, container=container)
