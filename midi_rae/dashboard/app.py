"""The dashboard's pages: Piece (midi_rae.dashboard.page) and Corpus (midi_rae.dashboard.corpus_page).

The page configuration is set here, once, before the navigation; each page's module is imported only when
that page is shown, so the Corpus page's first paint waits for neither torch nor the piece page.
"""
from __future__ import annotations

import streamlit as st

from ..checkpoint_meta import ASSETS
from . import activity, warmup
from .tables import TABLE_CSS

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


# The app's style sheet. Streamlit refuses a file over an uploader's limit in the browser: the file never reaches
# the page, and its chip shows only a red icon, the reason ("Error: File must be 8.0MB or smaller.") kept for screen
# readers; it is shown on its own line under the file's name instead. (Style alone: Streamlit sends it apart from the
# page's elements.)
APP_CSS = """<style>
/* the cards of a row as tall as its tallest: a longer name, an interval or a player made one card taller */
[class*="st-key-passage_cards"] [data-testid="stColumn"] > [data-testid="stVerticalBlock"] { height: 100%; }
[class*="st-key-passage_cards"] [data-testid="stColumn"] > [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"] {
  flex: 1 1 auto; }
[class*="st-key-passage_cards"] [data-testid="stColumn"] > [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"]
  > [data-testid="stVerticalBlock"] { height: 100%; }
/* a narrow card (a narrow window, or the sidebar open) puts Open under Listen rather than squeeze both to blanks */
[class*="st-key-passage_cards"] [data-testid="stColumn"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; row-gap: 0.5rem; }
[class*="st-key-passage_cards"] [data-testid="stColumn"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {
  min-width: 5.5rem; }
/* a button's, a metric's or a widget's words wrap where its column is narrow: they were cut to "Render the whol…",
   "F1, masked pa…" or to nothing */
[data-testid^="stBaseButton"] p, [data-testid="stPopoverButton"] p { white-space: normal; }
[data-testid="stMetricLabel"] .stMarkdownEllipsis, [data-testid="stMetricLabel"] .stMarkdownEllipsis p,
[data-testid="stWidgetLabel"] .stMarkdownEllipsis, [data-testid="stWidgetLabel"] .stMarkdownEllipsis p {
  white-space: normal; overflow: visible; }
/* a Markdown table whose header cells are all empty (the model cards' two-column tables): no empty first row */
[data-testid="stMarkdownContainer"] table thead:not(:has(th:not(:empty))) { display: none; }
/* a live chart's row (the PCA beside its words) one column under the other where the page is narrow (a window
   half a laptop's screen, the sidebar open): side by side, the chart's colour bar ran into its axis title */
@media (max-width: 1100px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .live-plotly) { flex-wrap: wrap; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .live-plotly) > [data-testid="stColumn"] {
    flex: 1 1 100% !important; width: 100% !important; min-width: 100%; }
}
[data-testid="stFileChip"][aria-invalid="true"] { flex-wrap: wrap; }
[data-testid="stFileChip"][aria-invalid="true"] span[role="alert"] {
  position: static; width: auto; height: auto; clip: auto; clip-path: none; overflow: visible;
  white-space: normal; margin: 0.25rem 0 0 0; flex-basis: 100%; font-size: 0.85rem; color: rgb(189, 64, 0);
}
""" + TABLE_CSS + "</style>"


def main() -> None:
    """Configure the page, then run the chosen one (noted on the activity clock, whichever page it is)."""
    with activity.running():
        st.set_page_config(page_title="midi-rae explorer", page_icon=FAVICON, layout="wide")
        st.html(APP_CSS)
        st.navigation([piece_page(), corpus_page()]).run()
