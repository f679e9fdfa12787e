"""The dashboard's script for `midi-rae app` (streamlit runs this file; the pages are in midi_rae.dashboard.app)."""
from midi_rae.dashboard.app import main

main()
