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
