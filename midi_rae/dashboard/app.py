"""The dashboard's pages: Piece (midi_rae.dashboard.page) and Corpus (midi_rae.dashboard.corpus_page).

The page configuration is set here, once, before the navigation; each page's module is imported only when
that page is shown, so the Corpus page's first paint waits for neither torch nor the piece page.
"""
from __future__ import annotations

import streamlit as st

from ..checkpoint_meta import ASSETS
from . import activity, warmup

# A shipped image: a Material symbol as the favicon is fetched from fonts.gstatic.com (absent offline, and a
# request to a third party), and an emoji makes Streamlit load its emoji catalogue.
FAVICON = ASSETS / "favicon.png"


def _piece() -> None:
    from .page import main

    main()


def _corpus() -> None:
    warmup.wait("corpus")
    from .corpus_page import main

    main()


def piece_page() -> "st.navigation.page.StreamlitPage":
    """The piece view (for st.switch_page)."""
    return st.Page(_piece, title="Piece", icon=":material/piano:", url_path="piece", default=True)


def corpus_page() -> "st.navigation.page.StreamlitPage":
    """The corpus explorer (for st.switch_page)."""
    return st.Page(_corpus, title="Corpus", icon=":material/library_music:", url_path="corpus")


def main() -> None:
    """Configure the page, then run the chosen one (noted on the activity clock, whichever page it is)."""
    with activity.running():
        st.set_page_config(page_title="midi-rae explorer", page_icon=FAVICON, layout="wide")
        st.navigation([piece_page(), corpus_page()]).run()
