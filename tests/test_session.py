"""The example picker's value as other pieces take the example's place and give it back (midi_rae.dashboard.session)."""
from __future__ import annotations

import pytest
import streamlit as st

from midi_rae.dashboard import session
from midi_rae.dashboard.session import K
from midi_rae.dashboard.sidebar import Piece


@pytest.fixture
def state():
    st.session_state.clear()
    st.session_state[K.EXAMPLE] = "a_song.mid"
    yield st.session_state
    st.session_state.clear()


def test_a_corpus_passage_closed_gives_the_picker_back_its_example(state):
    session.open_piece(Piece(b"", "k", "passage.mid"), bar=3)
    assert state[K.EXAMPLE] is None
    session.close_opened_piece()
    assert state[K.EXAMPLE] == "a_song.mid"


def test_a_corpus_passage_closed_over_a_kept_drop_leaves_the_picker_empty(state):
    session.leave_example()  # a file dropped
    state[K.LAST_GOOD_UPLOAD] = Piece(b"", "d", "dropped.mid", uploaded=True)  # kept while the Corpus page is open
    session.open_piece(Piece(b"", "k", "passage.mid"), bar=3)
    session.close_opened_piece()
    assert state[K.EXAMPLE] is None  # the dropped file shows again: picking a_song.mid must be a change
    assert session.last_example() == "a_song.mid"


def test_the_window_keeps_its_bar_when_its_slider_gets_another_range(state):
    session.keep_window_across_ranges(97)
    session.window_drawn(5)
    state[K.WINDOW_BAR] = 1  # the browser's new slider (another time resolution: another range) starts at bar 1
    session.keep_window_across_ranges(103)
    assert state[K.WINDOW_BAR] == 5
    session.window_drawn(5)
    session.keep_window_across_ranges(3)  # a range that no longer reaches it: its last bar
    assert state[K.WINDOW_BAR] == 3


def test_a_window_moved_before_its_slider_is_drawn_keeps_that_bar_across_ranges(state):
    session.keep_window_across_ranges(97)
    session.window_drawn(5)
    session.move_window(12)  # a click on the overview, in the run whose range changes
    session.keep_window_across_ranges(103)
    assert state[K.WINDOW_BAR] == 12


def test_a_value_the_page_sets_goes_to_a_new_widget_and_the_one_drawn_before_is_let_go_three_sets_later(state):
    drawn = session.widget_key(K.EXAMPLE)
    state[drawn] = "a_song.mid"  # the picker as the browser drew it
    session.leave_example()  # a file dropped
    assert session.widget_key(K.EXAMPLE) != drawn and state[session.widget_key(K.EXAMPLE)] is None
    assert state[drawn] == "a_song.mid"  # a request still carrying it is for a widget the page no longer draws
    session.set_widget(K.EXAMPLE, "b_song.mid")
    session.set_widget(K.EXAMPLE, "a_song.mid")
    assert drawn not in state and state[K.EXAMPLE] == "a_song.mid"


def test_a_pick_in_the_picker_a_drop_had_just_replaced_is_carried_to_the_new_one(state):
    from midi_rae.dashboard.sidebar import _example_picked

    drawn = session.widget_key(K.EXAMPLE)
    session.leave_example()  # a file dropped: the page replaces the picker
    state[drawn] = "b_song.mid"  # picked in the list the browser had open before it drew the new picker
    _example_picked(drawn)
    assert state[session.widget_key(K.EXAMPLE)] == "b_song.mid" and state[K.EXAMPLE] == "b_song.mid"


def test_an_uploader_emptied_and_refilled_leaves_its_keys_in_the_session_for_a_widget_still_listing_them(state):
    # Streamlit's widgets list the session's keys, then read each; a run being stopped as the next starts may be
    # doing so while this one clears what the uploader's emptying left, so clearing must not delete a key.
    state[K.RUN] = 4
    session.emptied("b_", True)
    keys = list(state.keys())
    state[K.RUN] = 6
    assert session.emptying_holds("b_") is True
    assert {k: state[k] for k in keys}[K.REMOVED_IN + "b_"] is None
    session.emptied("midi", True)
    session.emptied("midi", False)
    assert state[K.REMOVED_IN + "midi"] is None and session.emptied_now("midi") is False
