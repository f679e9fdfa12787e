"""The page's tables read back from the HTML that midi_rae.dashboard.tables writes, as the page shows them."""
from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from midi_rae.dashboard.tables import CLASS


class _Rows(HTMLParser):
    """Rows of (is-a-row-label, text) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[bool, str]]] = []
        self._cell: list[str] | None = None
        self._label = False

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._label = [], ("scope", "row") in attrs

    def handle_endtag(self, tag) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append((self._label, "".join(self._cell)))
            self._cell = None

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_table(text: str) -> pd.DataFrame | None:
    """One table as text cells under its header, its row labels (if any) as the index; None if `text` is not one."""
    if f'class="{CLASS}"' not in text:
        return None
    parser = _Rows()
    parser.feed(text)
    (head, *rows) = [[text for _, text in r] for r in parser.rows]
    labelled = bool(parser.rows[1:]) and parser.rows[1][0][0]
    frame = pd.DataFrame(rows, columns=head)
    return frame.set_index(head[0]).rename_axis(head[0] or None) if labelled else frame


def page_tables(at) -> list[pd.DataFrame]:
    """Every table an AppTest run drew, in page order."""
    return [t for t in (read_table(h.proto.body) for h in at.html) if t is not None]
