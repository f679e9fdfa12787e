"""A one-line colour legend under image views (images have no plotly legend)."""
from __future__ import annotations

import html

import streamlit as st


def legend(items: list[tuple[str, str]], suffix: str = "") -> None:
    """'■ name' for each (name, colour), in the colours the views use, then `suffix`."""
    parts = " &nbsp; ".join(f'<span style="color:{c}">■</span> {html.escape(n)}' for n, c in items)
    st.markdown(f'<div style="font-size:0.8rem;opacity:0.75">{parts}{html.escape(suffix)}</div>',
                unsafe_allow_html=True)
