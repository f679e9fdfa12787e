"""Equal-width images side by side, each under its title, sent to the browser as one element."""
from __future__ import annotations

import base64
import html


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page needs no request of its own to fetch it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def row_html(panels: list[tuple[str, str]], columns: int | None = None) -> str:
    """(title, data URI) per panel as one CSS grid row of `columns` equal columns (default: one per panel).

    One element instead of a column, a caption and an image per panel (the level masks and the reconstruction
    were 33 elements and 11 image requests on every window step); the browser lays it out and decodes the
    images without asking the server for them."""
    cells = "".join(
        f'<figure style="margin:0;min-width:0"><figcaption style="font-size:0.8rem;color:#555;margin-bottom:0.25rem;'
        f'white-space:nowrap;overflow:hidden;text-overflow:ellipsis">{html.escape(title)}</figcaption>'
        f'<img src="{uri}" alt="{html.escape(title)}" style="width:100%;display:block"></figure>'
        for title, uri in panels)
    return (f'<div class="midi-rae-image-row" style="display:grid;grid-template-columns:repeat('
            f'{columns or len(panels)},minmax(0,1fr));gap:1rem">{cells}</div>')


def show(container, panels: list[tuple[str, str]], columns: int | None = None) -> None:
    """The row of panels into a Streamlit container (`columns` wide: fewer panels leave the rest empty)."""
    container.html(row_html(panels, columns))
