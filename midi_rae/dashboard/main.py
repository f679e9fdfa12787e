"""`midi-rae app`'s server: midi_rae/dashboard/script.py for every session, the heavy imports begun at start."""
import streamlit as st

from midi_rae.dashboard import warmup

app = st.App(warmup.SCRIPT, lifespan=warmup.lifespan, middleware=warmup.MIDDLEWARE)
