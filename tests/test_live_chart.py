"""The live chart (midi_rae.dashboard.live_chart): what the browser is sent for a figure."""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

from midi_rae.dashboard import live_chart


def _figure(title: str = "Level 3") -> go.Figure:
    return go.Figure([go.Scatter(x=np.arange(3), y=np.arange(3) * 2.0, customdata=np.arange(6).reshape(3, 2)),
                      go.Scatter(x=[None], y=[None], name="this window")],
                     layout=dict(title=dict(text=title, font=dict(size=14)), template="plotly_white"))


def test_each_trace_is_sent_as_its_own_json_so_the_browser_can_keep_the_unchanged_ones():
    traces, _ = live_chart.payload(_figure())
    assert len(traces) == 2
    assert json.loads(traces[1]) == {"name": "this window", "x": [None], "y": [None], "type": "scatter"}


def test_the_same_figure_object_is_serialised_once():
    fig = _figure()
    first = live_chart.payload(fig)
    assert live_chart.payload(fig)[0] is first[0]  # the cached lists themselves
    assert live_chart.payload(_figure())[0] is not first[0]


def test_the_layout_gets_streamlits_look_under_the_figures_own_settings_and_a_bold_title():
    _, layout = live_chart.payload(_figure())
    layout = json.loads(layout)
    assert layout["title"]["text"] == "<b>Level 3</b>"
    assert layout["title"]["font"] == {"size": 14}  # the figure's own size wins over the look's 16
    look = layout["template"]["layout"]
    assert look["font"]["family"] == '"Source Sans", sans-serif' and look["title"]["font"]["size"] == 16
    assert look["xaxis"]["gridcolor"] == "#e6eaf1" and look["paper_bgcolor"] == "white"  # plotly_white stays under it


def test_a_title_already_in_bold_is_left_as_it_is():
    _, layout = live_chart.payload(_figure("<b>Bold</b>"))
    assert json.loads(layout)["title"]["text"] == "<b>Bold</b>"


def test_every_live_chart_gets_the_shortened_mode_bar():
    import json

    from midi_rae.dashboard import live_chart
    from midi_rae.figures import CHART_CONFIG

    assert f"const CONFIG = {json.dumps(CHART_CONFIG)};" in live_chart._JS
    assert {"select2d", "lasso2d"} <= set(CHART_CONFIG["modeBarButtonsToRemove"])
