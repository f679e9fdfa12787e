"""Equal-width images side by side, each under its title, sent to the browser as one element."""
from __future__ import annotations

import base64
import html
from typing import Optional, Sequence

from .tables import MUTED_COLOR

Ticks = Sequence[tuple[float, str]]  # (fraction of an image's width, label) along its time axis


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page needs no request of its own to fetch it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _axis(ticks: Ticks) -> str:
    """A strip under an image: a short line at each tick, its label under it."""
    tick = "position:absolute;top:0;height:3px;border-left:1px solid color-mix(in srgb,currentColor 45%,transparent)"
    marks = "".join(
        f'<span style="{tick};left:{100 * f:.3f}%"></span>'
        f'<span style="position:absolute;left:{100 * f:.3f}%;top:3px;transform:translateX(-50%)">'
        f'{html.escape(label)}</span>' for f, label in ticks)
    strip = ("position:relative;height:1.05rem;font-size:0.65rem;line-height:1;"
             f"color:{MUTED_COLOR}")
    return f'<div style="{strip}">{marks}</div>'


def row_html(panels: list[tuple[str, str]], columns: int | None = None, ticks: Optional[Ticks] = None) -> str:
    """(title, data URI) per panel as one CSS grid row of `columns` equal columns (default: one per panel), with
    `ticks` (bar numbers, say) under each image when given.

    One element instead of a column, a caption and an image per panel (the level masks and the reconstruction
    were 33 elements and 11 image requests on every window step); the browser lays it out and decodes the
    images without asking the server for them."""
    axis = _axis(ticks) if ticks else ""
    # a title wraps where its column is narrow (it was cut to "Probabilitie…"); the images stay level with each
    # other, at the foot of their row, whatever their titles' lines
    cells = "".join(
        f'<figure style="margin:0;min-width:0;display:flex;flex-direction:column"><figcaption style="font-size:0.8rem;'
        f'margin-bottom:0.25rem;color:color-mix(in srgb,currentColor 70%,transparent);overflow-wrap:anywhere">'
        f'{html.escape(title)}</figcaption>'
        f'<img src="{uri}" alt="{html.escape(title)}" style="width:100%;display:block;margin-top:auto">{axis}</figure>'
        for title, uri in panels)
    # `n` equal columns where each gets at least MIN_PANEL_PX, else as many as fit (a narrow window: the five
    # reconstruction panels were ~70 px each, their bar numbers run together); auto-fill keeps empty tracks, so a
    # row of fewer panels keeps its panels the width of a full row's
    n = columns or len(panels)
    return (f'<div class="midi-rae-image-row" style="display:grid;grid-template-columns:repeat(auto-fill,'
            f'minmax(max({MIN_PANEL_PX}px,calc((100% - {n - 1}rem) / {n})),1fr));gap:1rem">{cells}</div>')


MIN_PANEL_PX = 130  # a panel's least width: its bar numbers (up to 8) and a title's longest word still fit


def show(container, panels: list[tuple[str, str]], columns: int | None = None, ticks: Optional[Ticks] = None
         ) -> None:
    """The row of panels into a Streamlit container (`columns` wide: fewer panels leave the rest empty)."""
    container.html(row_html(panels, columns, ticks))
