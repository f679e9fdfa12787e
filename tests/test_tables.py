"""The page's small tables: static HTML whose every cell is escaped text."""
from __future__ import annotations

import pandas as pd

from html_tables import read_table
from midi_rae.dashboard.tables import MUTED_COLOR, MUTED_PERCENT, TABLE_CSS, table_html


def test_a_cell_holding_markup_is_shown_as_text_not_read_as_html():
    html = table_html(pd.DataFrame({"piece": ["<img src=x onerror=alert(1)>"]}), index=False)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_columns_numbers_share_the_decimals_the_most_precise_needs_and_a_missing_value_is_a_dash():
    table = read_table(table_html(pd.DataFrame({"F1": [0.7070, 31.25, 100.0, float("nan")], "Rank": [2.0, 8.82, 4.0, 1.0],
                                                "Max %": [100.0, 50.0, 23.0, 13.0]}), index=False))
    assert table["F1"].tolist() == ["0.707", "31.250", "100.000", "—"]
    assert table["Rank"].tolist() == ["2.00", "8.82", "4.00", "1.00"]
    assert table["Max %"].tolist() == ["100", "50", "23", "13"]  # whole numbers stay whole


def test_row_labels_are_header_cells_of_their_rows_and_come_back_as_the_index():
    df = pd.DataFrame({"Precision": ["0.500", "0.250"]}, index=["A", "B"])
    html = table_html(df)
    assert '<th scope="row">A</th><td>0.500</td>' in html
    assert read_table(html).loc["B", "Precision"] == "0.250"


def test_without_the_index_the_row_labels_are_left_out():
    html = table_html(pd.DataFrame({"Level": [0, 1], "Dim": [256, 128]}, index=["x", "y"]), index=False)
    assert "x" not in html and read_table(html).values.tolist() == [["0", "256"], ["1", "128"]]



def _luminance(rgb: tuple[float, float, float]) -> float:
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast_of_muted(text: tuple[int, int, int], background: tuple[int, int, int]) -> float:
    share = MUTED_PERCENT / 100  # color-mix with transparent: the text colour at that alpha over the background
    shown = tuple(share * t + (1 - share) * b for t, b in zip(text, background))
    hi, lo = sorted((_luminance(shown), _luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_muted_headers_keep_wcag_aa_contrast_on_streamlits_light_and_dark_themes():
    assert _contrast_of_muted((0x31, 0x33, 0x3F), (0xFF, 0xFF, 0xFF)) >= 4.5
    assert _contrast_of_muted((0xFA, 0xFA, 0xFA), (0x0E, 0x11, 0x17)) >= 4.5
    assert MUTED_COLOR in TABLE_CSS
