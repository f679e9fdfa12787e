"""The rows of thumbnails: their bar numbers."""
from __future__ import annotations

from midi_rae.pianoroll import bar_ticks


def test_a_window_from_bar_3_is_numbered_from_3_one_label_per_bar():
    assert bar_ticks(32, 128, 16) == [(k / 8, str(k + 3)) for k in range(8)]


def test_a_window_of_many_bars_labels_every_second_bar_and_one_starting_mid_bar_its_first_whole_bar():
    assert [label for _, label in bar_ticks(0, 256, 16)] == ["1", "3", "5", "7", "9", "11", "13", "15"]
    assert bar_ticks(8, 128, 16)[0] == (0.0625, "2")


def test_a_window_without_a_bar_line_is_labelled_at_its_start_with_the_bar_it_lies_in():
    assert bar_ticks(16, 32, 48) == [(0.0, "1")]


def test_a_row_keeps_its_columns_equal_and_wraps_where_a_panel_would_be_narrower_than_its_least_width():
    from midi_rae.dashboard.image_row import MIN_PANEL_PX, row_html

    html = row_html([("a", "data:,"), ("b", "data:,")], columns=5)
    # five tracks of a fifth each (less the gaps), none under the least width: fewer where the row is narrow
    assert f"repeat(auto-fill,minmax(max({MIN_PANEL_PX}px,calc((100% - 4rem) / 5)),1fr))" in html
