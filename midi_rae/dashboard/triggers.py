"""Trigger values of this project's custom components (the rolls, the live charts, the row picker): a click in
the browser reaches the script as a value that lasts the one run it starts."""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st


def noop() -> None:
    """The callback a component's trigger needs: trigger values reach the script only for events that have one."""


def value(key: str, name: str = "click") -> Optional[Any]:
    """Trigger `name` of component `key` on the run it started, else None."""
    state = st.session_state.get(key)
    return state.get(name) if state is not None else None
