"""`streamlit run app/main.py`: the dashboard's server. Each browser session runs midi_rae/dashboard/script.py;
the server begins importing what a first page needs as it starts, and torch once a browser asks for the piece page
(midi_rae.dashboard.warmup), so that page finds them imported.
"""
import sys
from pathlib import Path

import streamlit as st

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # a checkout run without installing the package
    sys.path.insert(0, ROOT)

from midi_rae.dashboard import warmup  # noqa: E402

app = st.App(warmup.SCRIPT, lifespan=warmup.lifespan, middleware=warmup.MIDDLEWARE)
