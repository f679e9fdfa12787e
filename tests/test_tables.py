"""The page's small tables: static HTML whose every cell is escaped text."""
from __future__ import annotations

import pandas as pd

from html_tables import read_table
from midi_rae.dashboard.tables import table_html


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

