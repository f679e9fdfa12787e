"""The dashboard's script for `midi-rae app` (streamlit runs this file; the page is midi_rae.dashboard.page)."""
from midi_rae.dashboard.page import main

main()
