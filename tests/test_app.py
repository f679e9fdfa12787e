"""The dashboard's flows, driven with Streamlit's AppTest (no browser)."""
from __future__ import annotations

import io
import re
import shutil

import numpy as np
import pretty_midi
import pytest
from streamlit.testing.v1 import AppTest

from midi_rae.dashboard.panel_recon import ENCODER_ONLY
from conftest import FIXTURES, ROOT, chart_specs, make_song, needs_fixtures, run_without_torch, to_bytes
from html_tables import page_tables
from midi_rae.checkpoint import DEFAULT_CHECKPOINT, load_model, save_checkpoint
from midi_rae.dashboard import url_state
from midi_rae.dashboard.session import widget_key

APP = str(ROOT / "midi_rae" / "dashboard" / "script.py")  # each session's script (app/main.py serves it)
pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped checkpoint")


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """A folder of two good example songs and one broken file, used instead of assets/examples."""
    d = tmp_path / "examples"
    d.mkdir()
    (d / "a_song.mid").write_bytes(to_bytes(make_song(bars=20, seed=1)))
    (d / "b_song.mid").write_bytes(to_bytes(make_song(bars=12, seed=2, tempo=90)))
    (d / "c_broken.mid").write_bytes(to_bytes(make_song(bars=12, seed=3))[:300])
    monkeypatch.setenv("MIDI_RAE_EXAMPLES", str(d))
    return d


def original_checkpoints_folder(tmp_path, monkeypatch, family: str) -> None:
    """A server checkpoint folder holding one fixture family's encoder and decoder, as the original code saved them."""
    folder = tmp_path / "orig"
    folder.mkdir()
    for name in ("SwinEncoder__best.pt", "SwinDecoder__best.pt"):
        shutil.copy(FIXTURES / family / name, folder / name)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def picker(at: AppTest):
    """The sidebar's example picker (its widget key changes each time the page sets it: session.set_picker)."""
    return next(s for s in at.selectbox if s.label == "…or pick an example")


def n_charts(at: AppTest) -> int:
    # every chart of the piece page is a custom component (roll_strip, live_chart); its one st.plotly_chart is the
    # first run's warm-up, which loads plotly.js (test_the_first_run_alone_holds_the_plotly_warm_up_chart)
    return sum(c.proto.component_name in ("midi_rae_roll", "midi_rae_live_plotly") for c in at.get("bidi_component"))


def rolls(at: AppTest) -> tuple[dict, dict]:
    """What the overview and the window were given to draw (midi_rae.dashboard.roll_strip)."""
    import json

    overview, window = (json.loads(c.proto.json) for c in at.get("bidi_component")
                        if c.proto.component_name == "midi_rae_roll")
    return overview, window


def neighbours_table(at: AppTest) -> dict:
    """What the table of a selection's neighbours was given to draw (midi_rae.dashboard.row_picker)."""
    import json

    return next(json.loads(c.proto.json) for c in at.get("bidi_component")
                if c.proto.component_name == "midi_rae_row_picker")


# charts: overview and window (a custom component) and PCA 2-D (masks and reconstruction are images, the explained
# variance a sentence, the 3-D PCA on request)
VIEWS = 3


def test_default_page_renders_every_view_without_errors(examples):
    at = run_app()
    assert not at.exception
    assert not at.error
    assert n_charts(at) == VIEWS + 1  # and the open analysis tab's spectrum
    assert any("a_song.mid" in c for c in texts(at.caption))
    labels = [m.label for m in at.metric]
    assert "F1, masked patches" in labels
    assert len(page_tables(at)) >= 3  # level statistics, metrics, spectrum



def test_the_model_card_button_shows_the_card_of_the_checkpoint_in_use(examples):
    at = run_app()
    at.button(key="model_card").click().run()
    assert not at.exception
    assert any(m.value.startswith("# Model card: `assets/default.safetensors`") for m in at.markdown)
    at.radio(key="ckpt_source").set_value("Shipped first").run()
    at.button(key="model_card").click().run()
    assert any(m.value.startswith("# Model card: `assets/first.safetensors`") for m in at.markdown)


def test_a_checkpoint_from_elsewhere_has_no_model_card(tmp_path):
    from midi_rae.dashboard.sources import model_card

    elsewhere = tmp_path / "default.safetensors"
    elsewhere.write_bytes(b"x")
    assert model_card(str(elsewhere)) is None and model_card(None).name == "MODEL_CARD.md"
    assert model_card(str(ROOT / "assets" / "hierarchy.safetensors")).name == "MODEL_CARD_hierarchy.md"

def test_the_first_run_alone_holds_the_plotly_warm_up_chart(examples):
    at = run_app()
    assert len(at.get("plotly_chart")) == 1  # kept to the end of the run, so the browser surely mounts it
    import json

    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]  # and draws nothing: no axis lines
    assert layout["xaxis"]["visible"] is False and layout["yaxis"]["visible"] is False
    at.slider(key="mask_ratio").set_value(0.6).run()
    assert not at.exception and len(at.get("plotly_chart")) == 0


def test_the_pca_caption_gives_each_components_share_of_the_variance(examples):
    from midi_rae.dashboard.panel_embed import variance_line

    assert variance_line(np.array([0.46, 0.34, 0.09]), 3) == (
        "Explained variance at level 3 (every patch, empty ones included): PC1 46 %, PC2 34 %, PC3 9 % "
        "(89 % together).")
    at = run_app()
    assert any("Explained variance at level 3 (every patch, empty ones included): PC1 " in c
               for c in texts(at.caption))


def test_a_selected_patch_is_dropped_when_another_piece_opens(examples):
    from midi_rae.dashboard.clicks import Selected

    at = run_app()
    at.session_state["selected"] = Selected(level=3, start=0, patch=3 * 8 + 1)
    at.run()
    assert at.session_state["selected"].patch == 25  # kept while the piece stays
    picker(at).select("b_song.mid").run()
    assert not at.exception and "selected" not in at.session_state


def test_a_selected_patch_the_model_has_no_level_for_is_dropped(examples):
    from midi_rae.dashboard.clicks import Selected

    at = run_app()  # as left by a seven-level model: a patch of level 6, which the six-level default lacks
    at.session_state["selected"] = Selected(level=6, start=0, patch=70)
    at.run()
    assert not at.exception, at.exception
    assert "selected" not in at.session_state
    at.session_state["selected"] = Selected(level=5, start=0, patch=32 * 32)  # one past the grid's last patch
    at.run()
    assert not at.exception and "selected" not in at.session_state


def test_a_selected_patch_is_dropped_when_the_time_resolution_changes(examples):
    from midi_rae.dashboard.clicks import Selected

    at = run_app()
    at.session_state["selected"] = Selected(level=3, start=0, patch=3 * 8 + 1)
    at.run()
    assert at.session_state["selected"].patch == 25
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(8).run()  # its steps would now be other music (bar 1, beats 2-3 instead of bar 2)
    assert not at.exception and "selected" not in at.session_state


def test_the_header_says_where_bars_and_tempo_are_only_the_openings_and_what_a_beat_is():
    from dataclasses import replace

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    roll = midi_to_roll(to_bytes(make_song(bars=4, seed=1)))
    assert timing_text(roll) == "4.0 bars of 4/4 · 8.0 s · 120 BPM · 4 steps per beat"  # tenths below 10 s
    changing = replace(roll, time_signature=(6, 8), metres=((6, 8),), metre_changes=3, tempo_changes=1)
    assert timing_text(changing).startswith(
        f"{changing.bars:.1f} bars of 6/8 (counted and drawn in the metre of most of the piece throughout; it changes "
        "3 times, so bar lines after a change may not be the score's) · ")
    assert timing_text(changing).endswith(" · 80 beats a minute at the start (quarter note = 120) · 4 steps per beat "
                                          "(a beat is a dotted quarter note)")
    assert timing_text(replace(roll, time_signature=(4, 2), metres=((4, 2),))).endswith(
        " · 60 beats a minute (quarter note = 120) · 4 steps per beat (a beat is a half note)")
    assert timing_text(replace(roll, time_signature=(3, 8), metres=((3, 8),))).endswith(
        " · 240 beats a minute (quarter note = 120) · 4 steps per beat (a beat is an eighth note)")


def test_the_opening_tempo_is_counted_in_the_opening_metres_beats():
    import pretty_midi

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=8, seed=2)  # 120 BPM: 3/4 for its first bar, then 2/2 (a half-note beat) for the rest
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(2, 2, 1.5)]
    text = timing_text(midi_to_roll(to_bytes(pm)))
    # not "60 beats a minute": the opening's beats are quarter notes
    assert " · 120 BPM at the start · 4 steps per beat (a beat is a half note)" in text, text


def test_an_opening_pickup_is_named_with_how_bars_are_numbered_and_the_tempo_is_the_pieces():
    import pretty_midi

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=8, seed=2)  # 120 BPM, in 3/4 after an eighth-note pickup
    pm.time_signature_changes = [pretty_midi.TimeSignature(1, 8, 0.0), pretty_midi.TimeSignature(3, 4, 0.25)]
    roll = midi_to_roll(to_bytes(pm))
    assert roll.pickup_steps == 4  # one beat of 1/8, at 4 steps per beat
    text = timing_text(roll)
    assert text.startswith(f"{roll.bars:.1f} bars of 3/4 (it opens with a bar of 1/8, drawn at the end of bar 1: where "
                           "the score counts that pickup as bar 0, bar n here is its bar n − 1) · "), text
    assert " · 120 BPM · 4 steps per beat, every beat alike: the opening 1/8's beats" in text, text


def test_a_pickups_metre_written_twice_ends_where_the_metre_changes():
    import pretty_midi

    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=8, seed=2)  # 120 BPM: 1/4 written at 0 and again at 0.5 s, 4/4 from 1.0 s (two beats in)
    pm.time_signature_changes = [pretty_midi.TimeSignature(1, 4, 0.0), pretty_midi.TimeSignature(1, 4, 0.5),
                                 pretty_midi.TimeSignature(4, 4, 1.0)]
    roll = midi_to_roll(to_bytes(pm))
    assert roll.pickup_steps == 8  # two beats at 4 steps per beat, not the first 1/4 alone
    assert np.flatnonzero(roll.onsets.any(axis=0))[0] == 8  # so the 4/4 bar lines fall at 1.0 s: step 16


def test_an_opening_of_whole_bars_in_another_metre_is_no_pickup():
    import pretty_midi

    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=8, seed=2)  # 120 BPM: two bars of 3/4, then 4/4
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(4, 4, 3.0)]
    assert midi_to_roll(to_bytes(pm)).pickup_steps == 0


def test_an_opening_metre_of_shorter_beats_is_said_to_be_drawn_as_long_as_the_main_ones():
    import pretty_midi

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=16, seed=3)  # 120 BPM: 7/8 for 14 s (eighth-note beats), then 5/4 (quarter-note beats)
    pm.time_signature_changes = [pretty_midi.TimeSignature(7, 8, 0.0), pretty_midi.TimeSignature(5, 4, 14.0)]
    assert timing_text(midi_to_roll(to_bytes(pm))).endswith(
        " · 4 steps per beat, every beat alike: the opening 7/8's beats (eighth notes) are drawn as long as 5/4's "
        "(quarter notes), and played at their own length")


def test_the_header_names_a_time_signature_the_grid_left_out():
    import pretty_midi

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=4, seed=1)
    pm.time_signature_changes = [pretty_midi.TimeSignature(99, 4, 0.0)]
    assert timing_text(midi_to_roll(to_bytes(pm))).startswith(
        "4.0 bars of 4/4 (the file's time signature 99/4 left out: no grid counts bars in it) · 8.0 s · ")


def test_switching_example_shows_the_other_piece(examples):
    at = run_app()
    picker(at).select("b_song.mid").run()
    assert not at.exception
    assert any("b_song.mid" in c and "12.0 bars" in c for c in texts(at.caption))


def test_a_new_piece_opens_untransposed_at_the_models_own_resolution(examples):
    at = run_app()
    at.slider(key="transpose").set_value(3).run()
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(8).run()
    assert any("a_song.mid" in c and "8 steps per beat" in c for c in texts(at.caption))
    picker(at).select("b_song.mid").run()
    assert not at.exception
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    assert (at.slider(key="transpose").value, resolution.value) == (0, 4)
    assert any("b_song.mid" in c and "4 steps per beat" in c for c in texts(at.caption))
    assert not any("was trained at" in i for i in texts(at.info))


def test_a_file_that_cannot_be_opened_leaves_the_shown_piece_as_it_was_read(examples):
    at = run_app()
    at.slider(key="transpose").set_value(3).run()
    picker(at).select("c_broken.mid").run()
    assert not at.exception
    assert any("Still showing a_song.mid" in c for c in texts(at.caption))
    assert at.slider(key="transpose").value == 3


def test_mask_ratio_slider_changes_the_hidden_patches_and_metrics(examples):
    at = run_app()
    before = [c for c in texts(at.caption) if "finest patches hidden" in c][0]
    at.slider(key="mask_ratio").set_value(0.9).run()
    after = [c for c in texts(at.caption) if "finest patches hidden" in c][0]
    assert not at.exception
    assert before != after
    assert int(after.split(" of ")[0]) > int(before.split(" of ")[0])


def image_rows_html(at) -> list[str]:
    """The HTML of each row of images on the page (level masks, then the reconstruction)."""
    return [h.proto.body for h in at.get("html") if "midi-rae-image-row" in h.proto.body]


def image_rows(at) -> list[list[str]]:
    """The image sources of each row of images on the page (level masks, then the reconstruction)."""
    import re

    return [re.findall(r'<img src="([^"]+)"', row) for row in image_rows_html(at)]


def test_new_mask_button_draws_a_different_mask(examples):
    at = run_app()
    masked_before = image_rows(at)[1][1]  # the masked-input panel of the reconstruction row
    seed0 = at.number_input(key="mask_seed").value
    [b for b in at.button if b.label == "New mask"][0].click().run()
    assert not at.exception
    assert at.number_input(key="mask_seed").value == seed0 + 1
    assert image_rows(at)[1][1] != masked_before


def test_mask_and_reconstruction_images_are_two_rows_of_png_in_the_page(examples):
    at = run_app()
    masks, recon = image_rows(at)
    assert len(masks) == 6 and len(recon) == 5 and len(at.image) == 0
    # lossless PNG (JPEG would smear single-pixel notes), inline: the browser makes no request per image
    assert all(src.startswith("data:image/png;base64,") for src in masks + recon)


def test_the_reconstruction_panels_are_numbered_by_the_bars_of_the_window(examples):
    import re

    at = run_app()  # a_song: 4/4 at 4 steps per beat, so a 128-step window holds 8 bars
    axis = lambda: re.findall(r'translateX\(-50%\)">(\d+)</span>', image_rows_html(at)[1])  # noqa: E731
    assert axis() == [str(b) for b in range(1, 9)] * 5
    at.slider(key="window_bar").set_value(3).run()
    assert axis() == [str(b) for b in range(3, 11)] * 5


def test_the_corpus_store_is_imported_in_the_background_once_after_the_piece_page():
    import subprocess
    import sys

    code = """
import sys, threading
from midi_rae.dashboard import model_views
model_views.STORE_IDLE_S = 0.0
assert "lancedb" not in sys.modules
model_views.warm_corpus_store(); model_views.warm_corpus_store()
warm = [t for t in threading.enumerate() if t.name == "midi-rae-store-import"]
assert len(warm) == 1
warm[0].join(60)
print("lancedb" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"


def test_the_corpus_store_import_waits_while_pages_keep_running():
    import subprocess
    import sys

    code = """
import sys, time
from midi_rae.dashboard import activity, model_views
model_views.STORE_IDLE_S = 1.0
model_views.warm_corpus_store()
end = time.monotonic() + 4.0
while time.monotonic() < end:  # a page run every 0.2 s for 4 s: never 1 s quiet
    activity.note()
    time.sleep(0.2)
during = "lancedb" in sys.modules
time.sleep(1.5)
print(during, activity.quiet_for() >= 1.0)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False True"


def test_a_background_import_stepping_aside_waits_between_modules_while_pages_run(tmp_path):
    import subprocess
    import sys

    pkg = tmp_path / "chain"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for a, b in zip("abcd", "bcde"):
        (pkg / f"{a}.py").write_text(f"from chain import {b}\n")
    (pkg / "e.py").write_text("")
    code = f"""
import sys, threading, time
sys.path.insert(0, {str(tmp_path)!r})
from midi_rae.dashboard import activity
finders = len(sys.meta_path)
activity.note()  # a page starts running
worker = threading.Thread(target=activity.stepping_aside, args=(lambda: __import__("chain.a"),))
worker.start()
end = time.monotonic() + 1.5
while time.monotonic() < end:  # a page run every 0.1 s: never 0.3 s quiet
    activity.note()
    time.sleep(0.1)
during = sorted(m for m in sys.modules if m.startswith("chain"))
worker.join(5)
print(during, sorted(m for m in sys.modules if m.startswith("chain.")), len(sys.meta_path) == finders)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[] ['chain.a', 'chain.b', 'chain.c', 'chain.d', 'chain.e'] True"


def test_the_resolution_the_grid_warning_names_can_be_picked_and_places_the_notes(tmp_path, monkeypatch):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    step = 0.5 / 16  # 64th notes: only a grid of 16 steps per beat or finer places them
    inst.notes += [pretty_midi.Note(90, 60 + k % 7, k * step, (k + 1) * step) for k in range(3 * 4 * 16)]
    pm.instruments.append(inst)
    d = tmp_path / "examples"
    d.mkdir()
    (d / "sixty_fourths.mid").write_bytes(to_bytes(pm))
    monkeypatch.setenv("MIDI_RAE_EXAMPLES", str(d))
    at = run_app()
    assert any("16 steps per beat places them" in w for w in texts(at.warning)), texts(at.warning)
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(16).run()
    assert not at.exception
    assert not any("places them" in w for w in texts(at.warning)), texts(at.warning)
    assert any("· 16 steps per beat —" in c for c in texts(at.caption))


def test_a_model_shown_at_another_resolution_than_it_learned_says_so(examples):
    at = run_app()
    assert not any("was trained at" in i for i in texts(at.info))  # at its own resolution: nothing to say
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(8).run()
    assert not at.exception
    assert ("shipped default was trained at 4 steps per beat and is shown this piece at 8: its notes are drawn "
            "longer or shorter than it learned them, so its scores here understate it.") in texts(at.info)


def test_where_a_bar_is_longer_than_the_window_the_last_start_is_the_last_bar_not_one_past_the_end(examples):
    at = run_app()  # a_song: 20 bars of 4/4; at 48 steps per beat a bar is 192 steps, the window 128
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(48).run()
    assert not at.exception and at.slider(key="window_bar").max == 20
    assert ("A bar is 192 steps at this resolution, longer than the model's window: each window shows the first 128 "
            "steps of its bar.") in texts(at.sidebar.caption)
    at.slider(key="window_bar").set_value(20).run()
    assert not any("holds no notes" in i for i in texts(at.info) + texts(at.warning))


def test_window_slider_moves_the_window(examples):
    at = run_app()
    at.slider(key="window_bar").set_value(5).run()
    assert not at.exception
    assert rolls(at)[1]["title"].startswith("Window: 128 steps from bar 5")


def test_a_window_move_changes_only_the_outlines_of_the_overview_and_the_pca(examples):
    import json

    def pca(at):
        return next(f for f in map(json.loads, chart_specs(at)) if "patch embeddings" in f["layout"]["title"]["text"])

    at = run_app()
    ov0, pca0 = rolls(at)[0], pca(at)
    at.slider(key="window_bar").set_value(5).run()
    ov1, pca1 = rolls(at)[0], pca(at)
    assert not at.exception
    # the roll and the points are the same data; the window's outline and the current window's rings move
    assert ov1["image"] == ov0["image"] and pca1["data"] == pca0["data"]
    n = ov0["n_bars"]  # the window is 8 bars of 16 steps: from bar 1, then from bar 5
    assert ov0["boxes"] == [[0.0, 8 / n, 0, 1, "window", ""]] and ov1["boxes"] == [[4 / n, 12 / n, 0, 1, "window", ""]]
    assert [sh["xanchor"] for sh in pca1["layout"]["shapes"]] != [sh["xanchor"] for sh in pca0["layout"]["shapes"]]


def test_a_long_piece_s_sampled_pca_keeps_its_points_across_window_moves_and_rings_the_whole_window(
        examples, monkeypatch):
    import json

    from midi_rae.dashboard import panel_embed

    def pca(at):
        return next(f for f in map(json.loads, chart_specs(at)) if "patch embeddings" in f["layout"]["title"]["text"])

    def rings(fig):
        return [(round(s["xanchor"], 3), round(s["yanchor"], 3)) for s in fig["layout"]["shapes"]
                if s.get("name") == "highlight"]

    def drawn(fig):
        return sum(len(t.get("hovertext") or []) for t in fig["data"])

    at = run_app()
    at.slider(key="window_bar").set_value(5).run()
    whole = pca(at)  # every point drawn
    monkeypatch.setattr(panel_embed, "MAX_POINTS", 40)  # as if the piece were long: a sample of 40 points
    panel_embed._pca_figures.clear()
    panel_embed._drawn_points.clear()
    at = run_app()
    first = pca(at)
    at.slider(key="window_bar").set_value(5).run()
    moved = pca(at)
    assert not at.exception and moved["data"] == first["data"]  # the same points: the browser redraws rings only
    assert drawn(moved) == 40 < drawn(whole)
    # the current window's patches are ringed where they lie, drawn or not
    assert sorted(rings(moved)) == sorted(rings(whole)) and rings(moved) != rings(first)


def test_broken_midi_gets_one_sentence_and_the_page_keeps_the_last_piece(examples):
    at = run_app()
    picker(at).select("c_broken.mid").run()
    assert not at.exception
    errs = texts(at.error)
    assert len(errs) == 1 and errs[0].startswith("c_broken.mid could not be opened.")
    assert "Traceback" not in errs[0]
    assert any("Still showing a_song.mid" in c for c in texts(at.caption))
    assert n_charts(at) == VIEWS + 1


def test_encoder_only_checkpoint_shows_everything_but_reconstruction(examples, tmp_path, monkeypatch):
    b = load_model()
    folder = tmp_path / "ckpts"
    save_checkpoint(folder / "encoder_only.safetensors", b.encoder, None, b.config, {})
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert not at.exception
    assert ENCODER_ONLY in texts(at.info)
    assert n_charts(at) == VIEWS + 1  # every chart (the reconstruction is an image), plus the spectrum
    assert [len(r) for r in image_rows(at)] == [6]  # the level masks, and no reconstruction images
    assert "F1, masked patches" not in [m.label for m in at.metric]


def test_a_checkpoint_file_name_in_the_server_folder_is_shown_as_plain_text(examples, tmp_path, monkeypatch):
    folder = tmp_path / "ckpts"
    shutil.copy(DEFAULT_CHECKPOINT, (folder / "run [1]").mkdir(parents=True) or
                folder / "run [1]" / "[Sign in](https:evil.example) $x$ **b**.safetensors")
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert not at.exception
    shown = [c for c in texts(at.sidebar.caption) + texts(at.caption) if "Sign in" in c]
    assert shown and all("run -1-/-Sign in-(https-evil.example) -x- --b--.safetensors" in c for c in shown), shown


@needs_fixtures()
def test_a_refused_decoder_gets_one_reason_and_the_encoder_alone_stays_without_contradiction(examples):
    def drop(key, family, name):
        data = (FIXTURES / family / name).read_bytes()
        at.file_uploader(key=key).set_value((name, data, "application/octet-stream")).run()

    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    drop("ckpt_upload", "seven-level", "SwinEncoder__best.pt")
    drop("dec_upload", "six-level", "SwinDecoder__best.pt")
    assert not at.exception
    errors = texts(at.sidebar.error)
    assert len(errors) == 1 and "for a model of 6 levels and the encoder has 7" in errors[0]
    assert any(c.startswith("Still using SwinEncoder__best.pt") for c in texts(at.sidebar.caption))
    assert ENCODER_ONLY in texts(at.info)
    assert not any("add the decoder" in i for i in texts(at.info))


def broken_in_folder(tmp_path, monkeypatch, name: str) -> AppTest:
    """The page on the server folder's one checkpoint, `name`, whose header is not JSON."""
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / name).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    return at


def test_broken_checkpoint_in_folder_gets_a_message_and_the_default_is_used(examples, tmp_path, monkeypatch):
    at = broken_in_folder(tmp_path, monkeypatch, "broken.safetensors")
    assert not at.exception
    assert any("damaged" in e for e in texts(at.sidebar.error))
    assert n_charts(at) == VIEWS + 1


def test_a_broken_checkpoint_in_the_folder_is_named_as_plain_text_in_its_error(examples, tmp_path, monkeypatch):
    at = broken_in_folder(tmp_path, monkeypatch, "broken $x$ [l](http:e).safetensors")
    errors = texts(at.sidebar.error)
    assert not at.exception and len(errors) == 1 and "broken -x- -l-(http-e).safetensors" in errors[0], errors


def test_checkpoint_of_the_wrong_shape_gets_a_message_and_the_default_is_used(examples, tmp_path, monkeypatch):
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models

    folder = tmp_path / "ckpts"
    enc, _ = build_models({**DEFAULT_CONFIG, "embed_dim": 16}, None)
    # the header claims the default architecture, the weights are twice as wide: only loading finds out
    save_checkpoint(folder / "wide.safetensors", enc, None, DEFAULT_CONFIG)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert not at.exception
    errs = texts(at.sidebar.error)
    assert len(errs) == 1 and "patch_embed.weight" in errs[0] and "\n" not in errs[0]
    assert any("model: shipped default" in c for c in texts(at.caption))
    assert n_charts(at) == VIEWS + 1


def test_the_page_before_the_model_needs_no_torch():
    """Sidebar, header and piano-roll overview are drawn while torch is still loading."""
    out = run_without_torch("from midi_rae.dashboard import clicks, export, page, panel_roll, selection, session, "
                            "sidebar, sources\n"
                            "print('ok')")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@needs_fixtures()
def test_seven_level_original_checkpoint_shows_seven_levels(examples, tmp_path, monkeypatch):
    original_checkpoints_folder(tmp_path, monkeypatch, "seven-level")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert not at.exception
    assert at.radio(key="pca_level").options[-1].startswith("6")
    assert any("7 levels" in c for c in texts(at.caption))
    assert "F1, masked patches" in [m.label for m in at.metric]


def test_listening_offers_midi_downloads_and_audio_players_on_request(examples):
    at = run_app()
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Window as MIDI", "Reconstruction as MIDI", "Piece as MIDI (quantised)"} <= set(labels)
    assert len(at.get("audio")) == 0  # nothing is synthesised until asked for
    at.toggle(key="players").set_value(True).run()
    assert not at.exception and len(at.get("audio")) == 2  # window and reconstruction; the piece on request
    at.button(key="piece_audio").click().run()
    assert not at.exception and len(at.get("audio")) == 3


def test_players_once_on_follow_the_window(examples):
    at = run_app()
    at.toggle(key="players").set_value(True).run()
    before = [a.proto.url for a in at.get("audio")]
    at.slider(key="window_bar").set_value(3).run()
    after = [a.proto.url for a in at.get("audio")]
    assert not at.exception and len(after) == 2 and after[0] != before[0] and after[1] != before[1]


def test_every_note_patch_of_a_jig_gets_eight_neighbours_though_overlapping_windows_repeat_it():
    from midi_rae.dashboard.clicks import Selected
    from midi_rae.dashboard.loaders import Song
    from midi_rae.dashboard.selection import neighbours
    from midi_rae.inference import encode_piece
    from midi_rae.pianoroll import midi_to_roll

    bundle = load_model(None)
    roll = midi_to_roll(ROOT / "assets" / "examples" / "oneills_1850_jig_0704.mid")
    song = Song(roll=roll, encoding=encode_piece(bundle.encoder, roll), config=bundle.model_config)
    ne = song.level_non_empty[4]
    counts = {len(neighbours(song, Selected(4, int(song.starts[w]), n))) for w in (0, len(ne) // 2)
              for n in np.flatnonzero(ne[w])}
    assert counts == {8}  # 84 of 365 had 3 when only the 48 nearest were read


def test_a_selected_patch_lists_its_nearest_neighbours(examples):
    from midi_rae.dashboard.clicks import Selected

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["selected"] = Selected(level=3, start=0, patch=9)
    at.run()
    assert not at.exception
    assert "**Level 3** (8×8): bar 2, pitches E0–G1" in texts(at.markdown)  # one bar of 4/4, inclusive as pitches
    table = neighbours_table(at)
    assert len(table["rows"]) == 8 and table["columns"] == ["#", "Where", "Pitches", "Cosine"]
    assert [r[0] for r in table["rows"]] == [str(k) for k in range(1, 9)]
    cosines = [float(r[3]) for r in table["rows"]]
    assert cosines == sorted(cosines, reverse=True)
    # the neighbours are outlined on the overview, numbered by rank, each spanning the bars the table names
    overview = rolls(at)[0]
    marks = [b for b in overview["boxes"] if b[4] == "mark"]
    assert sorted(int(r) for m in marks for r in m[5].split(",") if r) == list(range(1, 9))  # each rank once
    n = overview["n_bars"]
    spans = [(1 + round(n * m[0]), round(n * m[1])) for m in marks]  # first and last bar of each outline
    assert [f"bar {a}" if a == b else f"bars {a}–{b}" for a, b in spans] == [r[1] for r in table["rows"]]


def test_ranks_of_neighbours_side_by_side_share_one_label_on_the_overview():
    from midi_rae.dashboard.roll_strip import mark_labels

    # a 100-bar piece of 16-step bars: bars 6, 7 and 8 touch (one label, on the leftmost), bars 26 and 51 stand alone
    marks = [(80, 16), (400, 16), (96, 16), (112, 16), (800, 16)]
    assert mark_labels(marks, 1600) == ["1,3,4", "2", "", "", "5"]


def test_a_run_of_ranks_in_one_place_is_labelled_as_a_range():
    from midi_rae.dashboard.roll_strip import mark_labels

    marks = [(0, 128)] * 4 + [(800, 16), (0, 128), (0, 128), (0, 128)]  # 8-bar patches: seven in bars 1-8
    assert mark_labels(marks, 1600) == ["1–4,6–8", "", "", "", "5", "", "", ""]


def test_song_structure_tab_draws_the_similarity_matrix_and_trajectory_at_the_chosen_level(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Song structure"
    at.run()
    at.select_slider(key="sim_level").set_value(4).run()
    assert not at.exception
    assert n_charts(at) == VIEWS + 2  # similarity matrix and trajectory
    assert any("Self-similarity of windows at level 4" in s for s in chart_specs(at))


def test_probe_tab_draws_time_and_pitch_probes_and_its_reading_can_be_changed(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Shift and transpose probe"
    at.run()
    at.radio(key="probe_reading").set_value("same position (invariance)").run()
    assert not at.exception
    assert n_charts(at) == VIEWS + 2  # time and pitch probes
    assert any("Transposition" in s for s in chart_specs(at))


def test_the_phrase_probe_and_ablation_settings_survive_a_visit_to_another_tab(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Phrase probe"
    at.run()
    at.radio(key="phrase_frames").set_value("whole windows").run()
    at.radio(key="phrase_tolerance").set_value("±1 beat").run()
    at.session_state["analysis_tab"] = "Level ablation"
    at.run()
    at.radio(key="ablation_mode").set_value("the least similar window").run()
    for tab in ("Spectrum of every level", "Phrase probe", "Level ablation"):
        at.session_state["analysis_tab"] = tab
        at.run()
    assert not at.exception
    assert at.radio(key="ablation_mode").value == "the least similar window"
    at.session_state["analysis_tab"] = "Phrase probe"
    at.run()
    assert (at.radio(key="phrase_frames").value, at.radio(key="phrase_tolerance").value) == ("whole windows",
                                                                                             "±1 beat")


def test_closed_analysis_tabs_are_not_computed(examples):
    at = run_app()
    assert at.session_state["analysis_tab"] == "Spectrum of every level"
    assert "sim_level" not in at.session_state and "probe_reading" not in at.session_state


@needs_fixtures()
def test_ab_comparison_shows_both_models_on_the_same_window(examples, tmp_path, monkeypatch):
    original_checkpoints_folder(tmp_path, monkeypatch, "six-level")
    at = run_app()
    at.selectbox(key="b_source").select("Server folder").run()
    assert not at.exception
    assert any("A/B comparison" in h.value for h in at.subheader)
    col = "F1, masked patches"
    table = [t for t in page_tables(at) if col in t.columns][0]
    assert list(table.index) == ["A", "B", "B − A"]
    b, a, diff = (table.loc[r, col] for r in ("B", "A", "B − A"))
    assert re.fullmatch(r"\d\.\d{3}", a) and re.fullmatch(r"\d\.\d{3}", b) and re.fullmatch(r"[+−]\d\.\d{3}|0\.000", diff)
    assert float(diff.replace("−", "-")) == pytest.approx(float(b) - float(a), abs=1.5e-3)  # three decimals each, and a sign
    # both reconstruction rows and the difference are images: masks, the reconstruction, A, B, B − A
    rows = image_rows(at)
    assert [len(r) for r in rows] == [6, 5, 5, 5, 1] and n_charts(at) == VIEWS + 1
    assert rows[2] == rows[1]  # A is the page's own model on the same window and mask


def test_without_umap_the_page_says_how_to_enable_it(examples, monkeypatch):
    from midi_rae.dashboard import panel_embed

    monkeypatch.setattr(panel_embed, "umap_available", lambda: False)
    at = run_app()
    assert any("pip install umap-learn" in c for c in texts(at.caption))
    assert "show_umap" not in [t.key for t in at.get("toggle")]


def test_all_charts_export_as_one_offline_html_file(examples):
    at = run_app()
    at.button(key="prep_html").click().run()
    assert not at.exception
    data = [b for b in at.get("download_button") if b.proto.label.startswith("Download charts")]
    assert len(data) == 1
    html = at.session_state["_export_html"].decode()
    # every chart, and the image views (level masks, reconstruction) as charts
    # (+ the explained variance: a sentence on the page, a chart in the file)
    assert html.count("<h3>") == VIEWS + 1 + 2 + 1 and "plotly.js" in html.lower() and '<script src="http' not in html
    # in page order, though the page draws the embeddings before the masks
    assert html.index("<h3>The piece</h3>") < html.index("<h3>The window</h3>") \
        < html.index("<h3>Non-empty patches per level</h3>") < html.index("<h3>Patch embeddings (PCA)</h3>")
    # one title per chart (a heading names its section, the chart its own title), and nothing says "click"
    assert html.count("Window: 128 steps") == 1 and "click a bar" not in html and "click to select" not in html
    # nor the overview's row of bar markers, there only to be clicked; and it says what it shows
    assert '"name":"bars"' not in html and "<p>Window from bar 1 · 4 steps per beat · mask ratio 0.5 " in html


def test_level_grids_from_the_config_match_the_model():
    """The window's patch dots are drawn from the checkpoint's header, before the model is loaded."""
    from midi_rae.checkpoint import DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG, build_models
    from midi_rae.config import ModelConfig

    for cfg in (DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG):
        enc, _ = build_models(cfg, None)
        grids = ModelConfig.from_dict(cfg).level_grids
        assert grids == [(2 ** k, 2 ** k) for k in range(enc.num_stages)]
        assert grids[-1] == tuple(enc.grid_size)


# ------------------------------------------------------------------ defects a new user hit (issue 10)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="midi_upload").set_value((name, data, "audio/midi")).run()
    return at


def test_the_header_counts_one_note_and_keeps_an_emoji_name(examples):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=1.0))
    pm.instruments.append(inst)
    at = upload(run_app(), "🎹 one.mid", to_bytes(pm))
    assert not at.exception
    assert any(c.startswith("**🎹 one.mid** · 1 note · ") for c in texts(at.caption)), texts(at.caption)


def test_after_a_drop_an_example_can_be_picked_without_removing_the_file(examples):
    at = upload(run_app(), "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    assert not at.exception
    assert any("dropped.mid" in c for c in texts(at.caption))
    assert not picker(at).disabled
    assert "Showing the dropped file; pick an example to see that instead." in texts(at.sidebar.caption)
    picker(at).select("b_song.mid").run()
    assert any("b_song.mid" in c and "12.0 bars" in c for c in texts(at.caption))
    assert ("Showing the example; the dropped file stays in the uploader until removed (×)."
            in texts(at.sidebar.caption))


def test_the_same_bytes_dropped_under_two_names_keep_each_its_own_name():
    """The encoding is cached by content; the name (downloads, captions) is the session's own."""
    from types import SimpleNamespace

    from midi_rae.dashboard.model_views import song_for
    from midi_rae.dashboard.sources import digest
    from midi_rae.pianoroll import midi_to_roll

    data = to_bytes(make_song(bars=9, seed=41))
    model = SimpleNamespace(key="default", bundle=load_model())
    piece = SimpleNamespace(key=digest(data))
    first = song_for(model, piece, midi_to_roll(data, name="alice_private.mid"), 4, 0)
    second = song_for(model, piece, midi_to_roll(data, name="bob.mid"), 4, 0)
    assert (first.roll.name, second.roll.name) == ("alice_private.mid", "bob.mid")
    assert second.encoding is first.encoding


def test_no_download_reruns_the_page(examples):
    """A rerun would drop the files of the buttons beside it that are made when pressed ("not found")."""
    at = run_app()
    buttons = at.get("download_button")
    assert len(buttons) >= 3 and all(b.proto.ignore_rerun for b in buttons)


def test_a_dropped_file_removed_from_the_uploader_gives_way_to_the_example(examples):
    at = upload(run_app(), "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    assert any("dropped.mid" in c for c in texts(at.caption))
    at.file_uploader(key="midi_upload").set_value(None).run()
    assert not at.exception and any("a_song.mid" in c for c in texts(at.caption))
    assert not any("dropped earlier" in c for c in texts(at.sidebar.caption))
    assert picker(at).value == "a_song.mid"


def test_a_step_sent_before_the_browser_drew_the_drop_keeps_the_dropped_file(examples):
    # The browser sends every widget's value with a request: a window step taken before it has drawn the drop's run
    # carries the picker as it was drawn before the drop (a_song.mid), which must not count as picking it.
    at = run_app()
    before = type(picker(at)._widget_state)()
    before.CopyFrom(picker(at)._widget_state)  # the picker's value as the browser holds it until it draws the drop
    at = upload(at, "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    at.slider(key="window_bar").set_value(2)
    states = at._tree.get_widget_states()
    fresh = [w for w in states.widgets if w.id not in (before.id, picker(at).id)]
    del states.widgets[:]
    states.widgets.extend([*fresh, before])
    at._run(widget_state=states)
    assert not at.exception and any(c.startswith("**dropped.mid**") for c in texts(at.caption)), texts(at.caption)
    assert picker(at).value is None


def test_a_step_sent_before_the_browser_drew_a_click_on_the_overview_keeps_the_window_clicked(examples):
    # as for the picker above, but the slider has no on_change: Streamlit keeps the value the page set
    at = run_app()
    picker(at).select("b_song.mid").run()
    before = type(at.slider(key="window_bar")._widget_state)()
    before.CopyFrom(at.slider(key="window_bar")._widget_state)  # bar 1, as the browser holds it until it draws the click
    at.session_state["overview_strip"] = {"click": {"bar": 4}}  # what the browser sends for a click on bar 4
    at.run()
    assert at.slider(key="window_bar").value == 4
    at.slider(key="mask_ratio").set_value(0.55)
    states = at._tree.get_widget_states()
    fresh = [w for w in states.widgets if w.id not in (before.id, at.slider(key="window_bar").id)]
    del states.widgets[:]
    states.widgets.extend([*fresh, before])
    at._run(widget_state=states)
    assert not at.exception and at.slider(key="window_bar").value == 4
    assert rolls(at)[1]["title"].startswith("Window: 128 steps from bar 4")


def test_after_a_drop_the_example_shown_before_it_can_be_picked_again(examples):
    at = upload(run_app(), "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    assert picker(at).value is None  # so that picking a_song.mid again is a change
    picker(at).select("a_song.mid").run()
    assert not at.exception and any("a_song.mid" in c for c in texts(at.caption))
    assert picker(at).value == "a_song.mid"


def test_after_a_refused_drop_the_example_still_shown_can_be_picked_and_the_error_goes(examples):
    at = upload(run_app(), "empty.mid", b"")
    assert any("empty.mid could not be opened." in e for e in texts(at.error))
    picker(at).select("a_song.mid").run()
    assert not at.exception and any("a_song.mid" in c for c in texts(at.caption))
    assert not at.error


def test_after_a_refused_drop_the_sidebar_says_so_and_an_example_can_be_picked(examples):
    at = upload(run_app(), "empty.mid", b"")
    assert any("empty.mid could not be opened." in e for e in texts(at.error))
    assert ("Showing the example: the dropped file, empty.mid, could not be opened (the page says why); remove it "
            "(×) or drop another." in texts(at.sidebar.caption))
    assert not any("Showing the dropped file" in c for c in texts(at.sidebar.caption))
    picker(at).select("b_song.mid").run()
    assert not at.exception and any("b_song.mid" in c for c in texts(at.caption))


def test_a_refused_drop_over_an_example_leaves_the_picker_on_that_example_and_says_why_once(examples):
    at = run_app()
    picker(at).select("b_song.mid").run()
    at = upload(at, "empty.mid", b"")
    assert not at.exception and picker(at).value == "b_song.mid"
    assert [e for e in texts(at.error) if "could not be opened" in e] == [
        next(e for e in texts(at.error) if e.startswith("empty.mid could not be opened."))]
    assert any("Still showing b_song.mid" in c for c in texts(at.caption))
    at.slider(key="mask_ratio").set_value(0.7).run()
    assert not at.error and picker(at).value == "b_song.mid"
    assert not any("Remove the file" in c for c in texts(at.caption))  # the example is shown as picked


def test_a_picker_value_sent_with_a_drop_is_not_taken_for_a_pick(examples):
    # a file dropped over another: the browser sends the new file with a picker value it had not yet updated
    at = upload(run_app(), "good.mid", to_bytes(make_song(bars=9, seed=5)))
    at.file_uploader(key="midi_upload").set_value(("broken.mid", b"MThd" + b"\x00" * 40, "audio/midi"))
    picker(at).select("b_song.mid").run()
    assert not at.exception and at.error[0].value.startswith("broken.mid could not be opened.")
    assert any("Still showing good.mid" in c for c in texts(at.caption))
    assert picker(at).value is None


def test_a_broken_example_picked_again_says_why_again_and_the_picker_goes_back(examples):
    at = run_app()
    for _ in range(2):
        picker(at).select("c_broken.mid").run()
        assert not at.exception and picker(at).value == "a_song.mid"
        assert [e for e in texts(at.error) if "could not be opened" in e] == [
            next(e for e in texts(at.error) if e.startswith("c_broken.mid could not be opened."))]


def test_the_midi_uploader_states_one_size_limit(examples):
    from midi_rae.pianoroll import MAX_MIDI_BYTES

    at = run_app()
    uploader = at.file_uploader(key="midi_upload")
    assert "MB" not in uploader.label
    # the browser refuses a file over the limit times 1,000,000 bytes: the core's limit, to the byte
    assert uploader.proto.max_upload_size_mb * 1_000_000 == MAX_MIDI_BYTES == 8_000_000


def test_the_hidden_share_is_counted_of_all_patches_and_of_the_non_empty_ones_each_drawn_at_the_ratio(examples):
    import re

    at = run_app()
    cap = next(c for c in texts(at.caption) if "finest patches hidden" in c)
    m = re.match(r"(\d+) of 1024 finest patches hidden \((\d+)%\): (\d+) of the (\d+) non-empty ones \((\d+)%\) "
                 r"and (\d+) of the (\d+) empty ones\. Each non-empty patch is hidden with probability 0\.50", cap)
    assert m, cap
    n, pct, of_notes, notes, notes_pct, of_empty, empty = map(int, m.groups())
    assert pct == round(100 * n / 1024) and n == of_notes + of_empty and notes + empty == 1024
    assert notes_pct == round(100 * of_notes / notes)
    assert "(0.05 × that), drawn with mask seed 0. " in cap  # the draw is named: New mask changes it


def test_the_spectrum_table_has_an_effective_rank_column(examples):
    at = run_app()
    table = [t for t in page_tables(at) if "Components for 90%" in t.columns][0]
    assert "Effective rank" in table.columns and (table["Effective rank"].astype(float) >= 1).all()


def test_page_and_inspect_give_a_piece_the_same_level_statistics(examples):
    from midi_rae.inspect import inspect_file

    at = run_app()
    table = [t for t in page_tables(at) if "Piece mean %" in t.columns][0]
    r = inspect_file(str(examples / "a_song.mid"))
    assert [float(v) for v in table["Piece mean %"]] == [round(lv["non_empty_mean"] * 100, 1) for lv in r["levels"]]
    assert [float(v) for v in table["Std %"]] == [round(lv["non_empty_std"] * 100, 1) for lv in r["levels"]]


def test_inspect_prints_the_pages_level_percentages(examples, capsys):
    from midi_rae.inspect import _print_inspect, inspect_file

    at = run_app()
    table = [t for t in page_tables(at) if "Piece mean %" in t.columns][0]
    _print_inspect(inspect_file(str(examples / "a_song.mid")))
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if re.match(r"\s+\d+\s+\d+x\d+ ", line)]
    printed = [[float(v.rstrip("%")) for v in row[4:8]] for row in rows]
    shown = table[["Piece mean %", "Std %", "Min %", "Max %"]].astype(float).values.tolist()
    assert printed == shown


def test_inspect_gives_a_one_window_piece_no_spacing(tmp_path, capsys):
    from midi_rae.inspect import _print_inspect, inspect_file

    path = tmp_path / "short.mid"
    path.write_bytes(to_bytes(make_song(bars=2, seed=3)))
    _print_inspect(inspect_file(str(path)))
    assert capsys.readouterr().out.splitlines()[0].endswith(", 2.0 bars, 4.0 s, 1 window (4 steps/beat)")


@needs_fixtures()
def test_a_checkpoint_whose_output_is_constant_is_flagged(examples, tmp_path, monkeypatch):
    original_checkpoints_folder(tmp_path, monkeypatch, "six-level")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert not at.exception
    assert any("reconstruction is almost the same everywhere" in w for w in texts(at.warning))


@needs_fixtures()
def test_a_b_whose_output_is_constant_is_flagged_as_b(examples, tmp_path, monkeypatch):
    original_checkpoints_folder(tmp_path, monkeypatch, "six-level")
    at = run_app()
    at.selectbox(key="b_source").select("Server folder").run()
    assert not at.exception
    flagged = [w for w in texts(at.warning) if "almost the same everywhere" in w]
    assert len(flagged) == 1 and flagged[0].startswith("B: This checkpoint's reconstruction is almost the same")


def test_a_broken_file_says_so_once_and_later_actions_keep_only_a_quiet_note(examples):
    at = upload(run_app(), "good.mid", to_bytes(make_song(bars=9, seed=5)))
    at = upload(at, "broken.mid", b"MThd" + b"\x00" * 40)
    assert len(at.error) == 1 and at.error[0].value.startswith("broken.mid could not be opened.")
    why = at.error[0].value.removeprefix("broken.mid could not be opened. ")
    at.slider(key="mask_ratio").set_value(0.7).run()
    assert not at.error
    assert f"broken.mid could not be opened: {why} Still showing good.mid; remove the file to dismiss this." in texts(
        at.caption)  # the quiet note keeps the reason


def test_a_bad_file_dropped_over_a_good_one_keeps_the_good_ones_window_and_selection(examples):
    from midi_rae.dashboard.clicks import Selected

    at = upload(run_app(), "good.mid", to_bytes(make_song(bars=20, seed=5)))
    at.slider(key="window_bar").set_value(5).run()
    at.session_state["selected"] = Selected(level=3, start=64, patch=3 * 8 + 1)
    at.file_uploader(key="midi_upload").set_value(None).run()  # a drop over a file: the browser removes it first
    at = upload(at, "empty.mid", b"")
    assert not at.exception and at.error[0].value.startswith("empty.mid could not be opened.")
    assert any("Still showing good.mid" in c for c in texts(at.caption))
    assert at.slider(key="window_bar").value == 5 and rolls(at)[1]["title"].startswith("Window: 128 steps from bar 5")
    assert at.session_state["selected"] == Selected(level=3, start=64, patch=3 * 8 + 1)


def _one_line(pitches: list[int]) -> bytes:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(90, p, i * 0.5, i * 0.5 + 0.4) for i, p in enumerate(pitches)]
    pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def test_a_transposition_that_pushes_every_note_out_of_range_is_not_applied_and_says_so(examples):
    at = upload(run_app(), "top.mid", _one_line([127] * 16))
    at.slider(key="transpose").set_value(1).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Transposed by +1 semitone, every note of top.mid would leave MIDI's "
                                           "pitch range (0–127), so it is shown untransposed; choose a smaller "
                                           "transposition."]
    assert any("top.mid** · 16 notes · " in c for c in texts(at.caption))  # the header: the piece as it is


def test_a_transposition_that_pushes_some_notes_out_of_range_says_how_many(examples):
    at = upload(run_app(), "high.mid", _one_line([60, 120, 124, 125, 126] * 4))
    at.slider(key="transpose").set_value(3).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if w.value.startswith("Transposed")] == [
        "Transposed by +3 semitones, 8 notes of 20 leave MIDI's pitch range (0–127) and are left out of the roll "
        "and the model's scores."]


def test_bytes_refused_before_dropped_again_under_another_name_are_refused_aloud(examples):
    at = upload(run_app(), "first.mid", b"junk that is no MIDI")
    assert at.error[0].value.startswith("first.mid could not be opened.")
    at = upload(at, "good.mid", to_bytes(make_song(bars=12, seed=2)))
    assert not at.error
    at.file_uploader(key="midi_upload").set_value(None).run()
    at = upload(at, "second.mid", b"junk that is no MIDI")
    assert not at.exception and at.error[0].value.startswith("second.mid could not be opened.")


def test_the_neighbours_table_shows_places_not_indices_and_a_row_click_goes_there(examples):
    from midi_rae.dashboard.clicks import Selected

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["selected"] = Selected(level=3, start=0, patch=3 * 8 + 1)  # a note patch: C3–D#4
    at.run()
    table = neighbours_table(at)
    assert table["columns"] == ["#", "Where", "Pitches", "Cosine"]
    first = dict(zip(table["columns"], table["rows"][0]))
    assert first["Where"].startswith("bar ") and "–" in first["Pitches"]  # places, not window and patch indices
    at.session_state["neighbours"] = {"click": {"row": 0}}  # what the browser sends for a click on the first row
    at.run()
    assert not at.exception
    sel = at.session_state["selected"]
    assert (sel.level, sel.patch % 8) == (3, sel.patch % 8)
    assert f"(8×8): {first['Where']}, pitches" in next(m for m in texts(at.markdown) if m.startswith("**Level 3**"))


def test_a_pca_click_in_visible_masked_colouring_selects_the_clicked_patch(examples):
    at = run_app()
    at.selectbox(key="pca_color").select("Visible / masked (this window)").run()
    at.session_state["pca2d"] = {"click": {"customdata": [0, 5, 3]}}  # what the browser sends for a click
    at.run()
    assert not at.exception
    sel = at.session_state["selected"]
    assert (sel.level, sel.start, sel.patch) == (3, 0, 5)


def test_visible_masked_colouring_rings_the_selected_patch(examples):
    import json

    at = run_app()
    at.selectbox(key="pca_color").select("Visible / masked (this window)").run()
    at.session_state["pca2d"] = {"click": {"customdata": [0, 27, 3]}}  # a note patch of the first window
    at.run()
    fig = next(f for f in map(json.loads, chart_specs(at)) if "patch embeddings" in f["layout"]["title"]["text"])
    rings = [sh for sh in fig["layout"].get("shapes", []) if sh.get("name") == "highlight"]
    assert not at.exception and len(rings) == 1
    assert any(t.get("name") == "selected patch" and t.get("showlegend") for t in fig["data"])


def test_visible_masked_colouring_hides_the_windows_empty_patches_with_the_others(examples):
    import json

    def own_points(at) -> list[str]:
        fig = next(f for f in map(json.loads, chart_specs(at)) if "patch embeddings" in f["layout"]["title"]["text"])
        return [h for t in fig["data"] for h in t.get("hovertext") or [] if h.startswith("this window (masked")]

    at = run_app()
    at.selectbox(key="pca_color").select("Visible / masked (this window)").run()
    hidden = own_points(at)
    at.toggle(key="pca_show_empty").set_value(True).run()
    assert not at.exception and 0 < len(hidden) < len(own_points(at)) == 64  # level 3: 8×8 patches


def test_a_selected_patch_still_inside_the_moved_window_is_selected_there(examples):
    from midi_rae.dashboard.clicks import Selected

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["selected"] = Selected(level=3, start=0, patch=3 * 8 + 2)  # bar 3 of the window from bar 1
    at.run()
    at.slider(key="window_bar").set_value(2).run()
    assert not at.exception
    sel = at.session_state["selected"]
    assert (sel.level, sel.start, sel.patch) == (3, 16, 3 * 8 + 1)  # the same bar, one column to the left
    assert any(m.startswith("**Level 3** (8×8): bar 3,") and "not the one shown" not in m for m in texts(at.markdown))


def test_a_selected_patch_off_the_moved_windows_grid_stays_in_its_own_window_and_says_so(examples):
    from midi_rae.dashboard.clicks import Selected

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["selected"] = Selected(level=1, start=0, patch=1)  # level 1: patches of 4 bars
    at.run()
    at.slider(key="window_bar").set_value(2).run()
    assert not at.exception
    sel = at.session_state["selected"]
    assert (sel.level, sel.start, sel.patch) == (1, 0, 1)
    assert any(m.startswith("**Level 1**") and m.endswith("(in the window from bar 1, not the one shown)")
               for m in texts(at.markdown))


def test_downloads_have_one_extension():
    from midi_rae.dashboard.panel_listen import download_names

    assert download_names("piece.mid", 3) == {"window": "piece_bar3_window.mid",
                                               "reconstruction": "piece_bar3_reconstruction.mid",
                                               "piece": "piece_quantised.mid"}
    assert download_names("piece.mid", 3, -2)["window"] == "piece_transposed-2_bar3_window.mid"
    assert download_names("piece.mid", 3, pedal=True)["piece"] == "piece_pedal_quantised.mid"


def test_exported_files_are_named_for_the_view_they_show():
    from midi_rae.dashboard.names import file_stem

    assert file_stem("piece.mid") == "piece"
    # another transposition, resolution or model gives another name: one export never overwrites another's
    assert file_stem("piece.mid", 3, 12, "Shipped hierarchy") == "piece_transposed+3_12spb_shipped-hierarchy"
    assert file_stem("piece.mid", 0, None, "Shipped default", pedal=True) == "piece_pedal_shipped-default"
    assert file_stem("a<b>.mid", -1, None, "uploaded: run/ckpt.pt") == "a-b_transposed-1_ckpt-pt"


def test_a_download_name_has_no_space_or_hash_and_cuts_a_long_model_label_between_words():
    from midi_rae.dashboard.names import file_stem

    assert file_stem("Prelude in C# minor.mid", 0, None, "my_long_experiment_run_number_seven_final.safetensors") \
        == "Prelude-in-Csharp-minor_my_long_experiment_run_number_seven"


def test_the_reconstructions_download_names_the_model_that_made_it():
    from midi_rae.dashboard.panel_listen import download_names

    names = download_names("piece.mid", 3, view_stem="piece_shipped-default")
    assert names["reconstruction"] == "piece_shipped-default_bar3_reconstruction.mid"
    assert names["window"] == "piece_bar3_window.mid"  # the model's input: no model in its name


def test_the_charts_file_states_the_settings_it_was_drawn_at():
    from types import SimpleNamespace

    from midi_rae.dashboard.export import page_html
    from midi_rae.dashboard.page import export_settings
    from midi_rae.inference import MaskSettings

    view = SimpleNamespace(start_bar=7, mask=MaskSettings(mask_ratio=0.25, empty_mask_ratio=0.05, seed=3,
                                                          threshold=0.6))
    settings = export_settings(view, 6, -3)
    assert settings == ("Window from bar 7 · transposed −3 semitones · 6 steps per beat · mask ratio 0.25 of the "
                        "non-empty patches, empty mask ratio 0.05, seed 3 · threshold 0.6")
    assert f"<p>{settings}</p>" in page_html("piece.mid — Shipped default", settings)
    assert export_settings(view, 6, -3, b_meta={}).endswith(
        "threshold 0.6 (A) · B binarized at 0.50, the default (it stores no threshold)")  # an original-format B
    assert export_settings(view, 6, -3, b_meta={"threshold": 0.35}).endswith(
        "threshold 0.6 (A) · B binarized at 0.35, the threshold stored in it")


def test_a_transposed_piece_says_so_in_its_header(examples):
    at = run_app()
    at.slider(key="transpose").set_value(3).run()
    assert any(" · transposed +3 semitones — model: " in c for c in texts(at.caption)), texts(at.caption)


def test_a_hostile_checkpoint_gets_one_sentence_and_the_page_stays_on_the_last_model(examples, tmp_path):
    import json
    import struct

    good = DEFAULT_CHECKPOINT.read_bytes()
    # a safetensors header whose config is a list: refused before anything is built
    header = json.dumps({"__metadata__": {"format": "midi-rae/1", "config": "[1, 2]", "meta": "{}"}}).encode()
    hostile = struct.pack("<Q", len(header)) + header
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", good, "application/octet-stream")).run()
    assert any("model: mine.safetensors" in c for c in texts(at.caption))
    at.file_uploader(key="ckpt_upload").set_value(("evil.safetensors", hostile, "application/octet-stream")).run()
    assert not at.exception
    errs = texts(at.sidebar.error)
    assert len(errs) == 1 and "evil.safetensors" in errs[0] and "\n" not in errs[0]
    assert "Still using mine.safetensors." in texts(at.sidebar.caption)
    assert any("model: mine.safetensors" in c for c in texts(at.caption))
    assert n_charts(at) == VIEWS + 1


def _hostile_checkpoint() -> tuple:
    return ("evil.safetensors", b"\x00" * 64, "application/octet-stream")


def test_a_bad_checkpoint_dropped_over_a_good_one_keeps_the_good_one(examples):
    mine = ("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(), "application/octet-stream")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    at.file_uploader(key="ckpt_upload").set_value(mine).run()
    at.file_uploader(key="ckpt_upload").set_value(None).run()  # a drop over a file: the browser empties it first
    at.file_uploader(key="ckpt_upload").set_value(_hostile_checkpoint()).run()
    assert not at.exception and "Still using mine.safetensors." in texts(at.sidebar.caption)
    assert any("model: mine.safetensors" in c for c in texts(at.caption))
    at.file_uploader(key="ckpt_upload").set_value(None).run()  # and a second bad file over that one
    at.file_uploader(key="ckpt_upload").set_value(("evil2.safetensors", b"\x01" * 64, "application/octet-stream")).run()
    assert not at.exception and "Still using mine.safetensors." in texts(at.sidebar.caption)
    del at.session_state["ckpt_upload"]  # a visit to the Corpus page empties the uploader: the model stays
    at.run()
    assert not at.exception and any("model: mine.safetensors" in c for c in texts(at.caption))


def test_a_bad_decoder_dropped_over_a_good_one_keeps_the_good_pair_not_the_encoder_alone(examples, tmp_path):
    from midi_rae.checkpoint import DEFAULT_CONFIG
    from midi_rae.config import ModelConfig
    from midi_rae.swin import SwinMAEDecoder

    mae = SwinMAEDecoder(**ModelConfig.from_dict(DEFAULT_CONFIG).mae_decoder_kwargs())
    save_checkpoint(tmp_path / "mae.safetensors", None, mae.eval(), DEFAULT_CONFIG, {})
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(),
                                                    "application/octet-stream")).run()
    at.file_uploader(key="dec_upload").set_value(("mae.safetensors", (tmp_path / "mae.safetensors").read_bytes(),
                                                   "application/octet-stream")).run()
    assert any("model: mine.safetensors + mae.safetensors" in c for c in texts(at.caption))
    at.file_uploader(key="dec_upload").set_value(None).run()  # a drop over a file: the browser empties it first
    at.file_uploader(key="dec_upload").set_value(_hostile_checkpoint()).run()
    assert not at.exception and "Still using mine.safetensors + mae.safetensors." in texts(at.sidebar.caption)
    assert any("model: mine.safetensors + mae.safetensors" in c for c in texts(at.caption))


def test_a_bad_checkpoint_dropped_over_a_good_b_keeps_comparing_with_the_good_one(examples):
    mine = ("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(), "application/octet-stream")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Shipped first").run()
    at.selectbox(key="b_source").select("Upload").run()
    at.file_uploader(key="b_ckpt_upload").set_value(mine).run()
    assert any("compared with B: mine.safetensors" in c for c in texts(at.caption))
    at.file_uploader(key="b_ckpt_upload").set_value(None).run()  # a drop over a file: the browser empties it first
    at.file_uploader(key="b_ckpt_upload").set_value(_hostile_checkpoint()).run()
    assert not at.exception and [e[:28] for e in texts(at.sidebar.error)] == ["Not used as B: evil.safetens"]
    assert "Still comparing with mine.safetensors." in texts(at.sidebar.caption)
    assert any("compared with B: mine.safetensors" in c for c in texts(at.caption))


def test_a_bad_checkpoint_dropped_after_the_good_one_was_removed_keeps_the_shipped_default(examples):
    mine = ("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(), "application/octet-stream")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    at.file_uploader(key="ckpt_upload").set_value(mine).run()
    at.file_uploader(key="ckpt_upload").set_value(None).run()  # removed (×)
    at.slider(key="mask_ratio").set_value(0.7).run()  # and then the page used without it
    at.file_uploader(key="ckpt_upload").set_value(_hostile_checkpoint()).run()
    assert not at.exception and "Still using shipped default." in texts(at.sidebar.caption)


def test_a_bad_file_dropped_after_a_good_one_was_removed_falls_back_to_the_example_shown(examples):
    at = upload(run_app(), "good.mid", to_bytes(make_song(bars=9, seed=5)))
    at.file_uploader(key="midi_upload").set_value(None).run()  # removed (×): the example shows again
    at.slider(key="mask_ratio").set_value(0.7).run()
    at = upload(at, "broken.mid", b"MThd" + b"\x00" * 40)
    assert not at.exception and any("Still showing a_song.mid" in c for c in texts(at.caption))
    assert picker(at).value == "a_song.mid"


def test_a_dropped_checkpoint_stays_in_use_when_its_uploader_is_emptied_until_it_is_removed(examples):
    """Streamlit empties an uploader when its page is left (a visit to the Corpus page): the model stays."""
    mine = ("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(), "application/octet-stream")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    at.file_uploader(key="ckpt_upload").set_value(mine).run()
    at.file_uploader(key="ckpt_upload").set_value(None).run()  # removed (×): back to the shipped default
    assert any("model: shipped default" in c for c in texts(at.caption))
    at.file_uploader(key="ckpt_upload").set_value(mine).run()
    del at.session_state["ckpt_upload"]  # what leaving the page does: no change event, the uploader is empty
    at.run()
    assert not at.exception and any("model: mine.safetensors" in c for c in texts(at.caption))
    assert any("dropped earlier" in c for c in texts(at.sidebar.caption))


def test_picking_upload_keeps_the_model_in_use_until_a_file_is_dropped_and_after_it_is_removed(examples):
    mine = ("mine.safetensors", DEFAULT_CHECKPOINT.read_bytes(), "application/octet-stream")
    at = run_app()
    at.radio(key="ckpt_source").set_value("Shipped first").run()
    at.radio(key="ckpt_source").set_value("Upload").run()
    assert not at.exception and any("model: shipped first" in c for c in texts(at.caption))
    assert "Drop a checkpoint above; until then **shipped first** stays in use." in texts(at.sidebar.info)
    at.file_uploader(key="ckpt_upload").set_value(mine).run()
    assert any("model: mine.safetensors" in c for c in texts(at.caption))
    at.file_uploader(key="ckpt_upload").set_value(None).run()  # removed (×)
    assert any("model: shipped first" in c for c in texts(at.caption))


def test_a_click_on_the_window_selects_its_patch_and_the_same_patch_again_after_clearing(examples):
    at = run_app()
    at.session_state["window_strip"] = {"click": {"patch": 27}}  # what the browser sends for a click
    at.run()
    assert at.session_state["selected"].patch == 27
    window = rolls(at)[1]
    assert [b[4] for b in window["boxes"]] == ["highlight", "highlight"]  # the patch and its parent
    at.session_state["window_strip"] = {"click": None}  # a trigger lasts one run
    at.button(key="clear_sel").click().run()
    assert "selected" not in at.session_state
    at.session_state["window_strip"] = {"click": {"patch": 27}}
    at.run()
    assert not at.exception and at.session_state["selected"].patch == 27


def test_clear_selection_runs_the_page_once(examples, monkeypatch):
    from midi_rae.dashboard import page

    at = run_app()
    at.session_state["window_strip"] = {"click": {"patch": 27}}
    at.run()
    at.session_state["window_strip"] = {"click": None}
    runs = []
    header = page.header
    monkeypatch.setattr(page, "header", lambda *a: (runs.append(1), header(*a)))
    at.button(key="clear_sel").click().run()
    assert "selected" not in at.session_state and not at.exception
    assert len(runs) == 1


def test_find_similar_tab_searches_the_shipped_corpus_for_the_current_window(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Find similar in the corpus"
    at.run()
    assert not at.exception
    assert "Find similar in the corpus" in [h.value for h in at.subheader]
    assert "Searches the index *shipped corpus* (904 windows); the Corpus page picks another." in texts(at.caption)


def test_find_similar_at_another_time_resolution_than_the_indexs_says_so_and_does_not_search(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Find similar in the corpus"
    at.run()
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(8).run()
    assert not at.exception and not [b for b in at.button if b.key == "corpus_find_similar"]
    assert ("This index reads its pieces at 4 steps per beat and the page shows this piece at 8: its windows and "
            "patches span other music. Set the time resolution to 4 to search it.") in texts(at.info)


def test_after_a_search_the_similar_passages_follow_the_transposition_and_level_controls(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "Find similar in the corpus"
    at.run()
    at.button(key="corpus_find_similar").click().run()
    nearest = [c for c in texts(at.caption) if c.startswith("Nearest to")]
    assert len(nearest) == 1 and not at.exception
    at.toggle(key="corpus_similar_transpose").set_value(True).run()
    assert [c for c in texts(at.caption) if c.startswith("Nearest to")] == nearest  # searched again, not emptied
    level = at.selectbox(key="corpus_similar_level")
    assert level.format_func(2) == "2 (4×4)"
    level.select(2).run()
    assert any(c.startswith("Nearest to") and "at level 2" in c for c in texts(at.caption))


def shipped_ab_model() -> str:
    """The stem of a second shipped checkpoint (the test is skipped where only the default ships)."""
    from midi_rae.dashboard.sources import shipped_checkpoints

    if not shipped_checkpoints():
        pytest.skip("only the default checkpoint ships")
    return shipped_checkpoints()[0].stem


def test_a_second_shipped_model_can_be_compared_with_the_default(examples):
    from midi_rae.dashboard.sources import shipped_checkpoints

    if not shipped_checkpoints():
        pytest.skip("only the default checkpoint ships")
    at = run_app()
    label = f"Shipped {shipped_checkpoints()[0].stem}"
    at.selectbox(key="b_source").select(label).run()
    assert not at.exception
    assert any(f"B = shipped {shipped_checkpoints()[0].stem}" in h.value for h in at.subheader)


def test_with_a_b_model_the_header_and_the_sidebar_say_where_the_comparison_is(examples):
    from midi_rae.dashboard.sidebar import AB_WHERE

    at = run_app()
    at.selectbox(key="b_source").select("Shipped first").run()
    assert any("compared with B: shipped first (under the masked reconstruction)" in c for c in texts(at.caption))
    assert AB_WHERE in texts(at.sidebar.caption)
    at.selectbox(key="b_source").select("Off").run()
    assert not any("compared with B" in c for c in texts(at.caption)) and AB_WHERE not in texts(at.sidebar.caption)


def test_b_the_same_checkpoint_as_a_says_so_instead_of_comparing(examples):
    at = run_app()
    at.selectbox(key="b_source").select("Shipped default").run()
    assert not at.exception
    assert texts(at.info)[-1] == ("B is the same checkpoint as A (shipped default); pick another one as B to "
                                  "compare two models.")
    assert len(image_rows(at)) == 2  # the page's own masks and reconstruction, no A/B rows


def test_a_b_that_sees_wider_windows_is_compared_without_a_difference_map(examples, tmp_path, monkeypatch):
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models

    cfg = {**DEFAULT_CONFIG, "img_width": 256, "patch_w": 2 * DEFAULT_CONFIG["patch_w"]}  # the same grid
    enc, dec = build_models(cfg, "swin")
    folder = tmp_path / "ckpts"
    save_checkpoint(folder / "wide_windows.safetensors", enc.eval(), dec.eval(), cfg, {"threshold": 0.5})
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(folder))
    at = run_app()
    at.selectbox(key="b_source").select("Server folder").run()
    assert not at.exception
    assert texts(at.info)[-1] == ("A sees windows of 128 steps and B of 256, so their probabilities cannot be "
                                  "subtracted pixel by pixel.")
    assert [len(r) for r in image_rows(at)] == [6, 5, 5, 5]  # both rows, no difference map
    caption = next(c for c in texts(at.caption) if "mask ratio and seed" in c)
    assert caption.startswith("Windows from the same start but of different lengths (A: 128 steps, bars 1–8; "
                              "B: 256 steps, bars 1–16): the two score different music, so no B − A is given. Same "
                              "mask ratio and seed")
    scores = [t for t in page_tables(at) if "F1, masked patches" in t.columns][0]
    assert list(scores.index) == ["A", "B"]  # side by side, no difference row


def test_with_interactive_on_the_ab_comparison_draws_charts(examples):
    at = run_app()
    at.toggle(key="recon_interactive").set_value(True).run()
    at.selectbox(key="b_source").select(f"Shipped {shipped_ab_model()}").run()
    assert not at.exception
    assert len(image_rows(at)) == 1  # only the level masks stay images
    assert n_charts(at) == VIEWS + 1 + 1 + 3  # the reconstruction, A, B and B − A


def test_a_dropped_png_piano_roll_is_shown_in_steps(examples):
    from midi_rae.png_rolls import PNG_NOTE, roll_to_png

    roll = __import__("numpy").zeros((128, 256), dtype="uint8")
    roll[60, 10:40] = roll[64, 50:90] = 1
    at = upload(run_app(), "roll.png", roll_to_png(roll))
    assert not at.exception
    assert any(t.startswith(PNG_NOTE.rstrip(".")) and t.endswith("the window moves in blocks of 16 steps.")
               for t in texts(at.info))
    assert any(c.startswith("**roll.png** · 2 notes · 256 steps (a PNG roll: no tempo) — model: ")
               for c in texts(at.caption))
    assert [s.disabled for s in at.select_slider if s.label.startswith("Time resolution")] == [True]
    assert [s.label for s in at.slider if s.key == "window_bar"] == ["Window start (block of 16 steps)"]


def test_a_png_rolls_places_rolls_and_reconstruction_ticks_are_named_in_steps():
    import numpy as np

    from midi_rae.dashboard.roll_strip import window_data
    from midi_rae.pianoroll import bar_ticks, place
    from midi_rae.png_rolls import png_to_roll, roll_to_png

    array = np.zeros((128, 256), dtype=np.uint8)
    array[60, 10:40] = 1
    roll = png_to_roll(roll_to_png(array), steps_per_beat=4)
    assert roll.steps_only and place(roll, 32, 16) == "steps 32–47" and place(roll, 5, 1) == "step 5"
    assert place(roll, 240, 32) == "steps 240–255"  # a last window's patch named up to the roll's end, not past it
    data = window_data(array[:, 32:160], 32, 4, 4, (48, 72), [], 8, "w", steps_only=True)
    assert data["x_title"] == "step" and data["x_labels"][0] == "step 32" and data["x_ticks"][0][1] == "32"
    assert bar_ticks(32, 128, 16, steps=True)[:2] == [(0.0, "32"), (0.125, "48")]


def test_a_passage_opened_past_the_pieces_last_window_start_says_where_the_window_starts(examples):
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    data = to_bytes(make_song(bars=10, seed=7))  # 8-bar windows: the last starts at bar 3
    at = run_app()  # an example shown, then the Corpus page opens a passage of another piece
    at.session_state["opened_piece"] = Piece(data, digest(data), "from_corpus.mid")
    at.session_state["_opened_at"] = (digest(data), 9)  # an index's window of another width or resolution
    at.run()
    assert not at.exception and at.slider(key="window_bar").value == 3
    assert any("The passage opened starts at bar 9, past this piece's last window here, which starts at bar 3: the "
               "window starts there." in t for t in texts(at.info))


def test_a_piece_opened_from_the_corpus_page_is_shown_until_closed(examples):
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    data = to_bytes(make_song(bars=10, seed=7))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["opened_piece"] = Piece(data, digest(data), "from_corpus.mid")
    at.run()
    assert not at.exception
    assert "Showing **from_corpus.mid**, opened from the corpus." in texts(at.sidebar.caption)
    at.button(key="close_opened").click().run()
    assert any("a_song.mid" in c for c in texts(at.caption))


def test_a_shipped_corpus_piece_opened_from_the_corpus_page_keeps_its_place_in_the_url(examples):
    from midi_rae.dashboard.corpus_sources import SHIPPED_MIDI
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    data = (SHIPPED_MIDI / "schubert" / "Lindenbaum.mid").read_bytes()
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["opened_piece"] = Piece(data, digest(data), "Lindenbaum.mid", address="schubert/Lindenbaum.mid")
    at.session_state["_opened_at"] = (digest(data), 3)  # as session.open_piece leaves them
    at.session_state["window_bar"] = 3
    at.run()
    assert not at.exception and dict(at.query_params) == {
        "model": "Shipped default", "passage": "schubert/Lindenbaum.mid", "bar": "3", "transpose": "0"}
    reload = AppTest.from_file(APP, default_timeout=180)  # a new session from that URL
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception and any(c.startswith("**Lindenbaum.mid**") for c in texts(reload.caption))
    assert reload.slider(key="window_bar").value == 3 and not [i for i in reload.info if "link" in i.value]


def test_closing_a_passage_opened_before_the_piece_page_was_ever_shown_names_the_example_shown(examples):
    from midi_rae.dashboard.corpus_sources import SHIPPED_MIDI
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    data = (SHIPPED_MIDI / "schubert" / "Lindenbaum.mid").read_bytes()
    at = AppTest.from_file(APP, default_timeout=180)  # a session that began on the Corpus page: no example yet
    at.session_state["opened_piece"] = Piece(data, digest(data), "Lindenbaum.mid", address="schubert/Lindenbaum.mid")
    at.session_state["_opened_at"] = (digest(data), 3)
    at.session_state[widget_key("example", 0)] = None  # as session.open_piece leaves the picker
    at.run()
    at.button(key="close_opened").click().run()
    assert not at.exception and any(c.startswith("**a_song.mid**") for c in texts(at.caption))
    assert picker(at).value == "a_song.mid"
    assert at.query_params.get("example") == "a_song.mid"


def test_an_example_picked_while_a_corpus_passage_is_shown_is_the_one_shown(examples):
    from midi_rae.dashboard.corpus_sources import SHIPPED_MIDI
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    data = (SHIPPED_MIDI / "schubert" / "Lindenbaum.mid").read_bytes()
    at = run_app()
    at.session_state["opened_piece"] = Piece(data, digest(data), "Lindenbaum.mid", address="schubert/Lindenbaum.mid")
    at.session_state["_opened_at"] = (digest(data), 3)  # as session.open_piece leaves them
    at.session_state["example"] = None
    at.run()
    assert any(c.startswith("**Lindenbaum.mid**") for c in texts(at.caption))
    picker(at).select("b_song.mid").run()
    assert not at.exception and any(c.startswith("**b_song.mid**") for c in texts(at.caption)), texts(at.caption)
    assert picker(at).value == "b_song.mid" and at.query_params.get("example") == "b_song.mid"


def test_the_pedal_turned_on_for_a_piece_without_pedal_says_it_changes_nothing(examples):
    at = run_app()
    at.toggle(key="sustain_pedal").set_value(True).run()
    assert not at.exception
    assert any("*Sustain pedal* is on, but this piece presses no sustain pedal: it reads the same either way." in c
               for c in texts(at.caption)), texts(at.caption)


def test_the_sustain_pedal_setting_travels_in_the_url(examples):
    at = run_app()
    at.toggle(key="sustain_pedal").set_value(True).run()
    assert not at.exception and at.query_params.get("pedal") == "1"
    reload = AppTest.from_file(APP, default_timeout=180)  # a new session from that URL
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception and reload.toggle(key="sustain_pedal").value is True


def test_a_url_whose_pedal_is_not_0_or_1_says_so(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"pedal": "yes"})
    at.run()
    assert not at.exception and at.toggle(key="sustain_pedal").value is False
    assert any("pedal (not 0 or 1)" in i.value for i in at.info)


@pytest.mark.parametrize("address", ["../examples/bach_chorale_bwv253.mid", "/etc/passwd", "schubert/none.mid",
                                     "schubert"])
def test_a_url_naming_no_shipped_corpus_piece_opens_nothing_from_it(examples, address):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"passage": address, "bar": "2"})
    at.run()
    assert not at.exception and any(c.startswith("**a_song.mid**") for c in texts(at.caption))
    assert any("passage (not a piece of the shipped corpus)" in i.value for i in at.info)


def test_a_passage_opened_while_a_dropped_file_is_in_the_uploader_is_shown(examples):
    from midi_rae.dashboard.sidebar import Piece
    from midi_rae.dashboard.sources import digest

    at = upload(run_app(), "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    data = to_bytes(make_song(bars=30, seed=7))
    # what Open on a Find-similar card leaves (session.open_piece), the dropped file still in the uploader
    at.session_state["opened_piece"] = Piece(data, digest(data), "hit.mid")
    at.session_state["_opened_at"] = (digest(data), 15)
    at.session_state["_opened_over_upload"] = at.session_state["midi_upload"].file_id
    at.session_state["window_bar"] = 15
    at.run()
    assert not at.exception and any(c.startswith("**hit.mid**") for c in texts(at.caption))
    assert "Showing **hit.mid**, opened from the corpus." in texts(at.sidebar.caption)
    assert at.slider(key="window_bar").value == 15
    at = upload(at, "another.mid", to_bytes(make_song(bars=9, seed=8)))  # a new drop shows the new file
    assert any(c.startswith("**another.mid**") for c in texts(at.caption))


def test_long_downloads_are_made_when_pressed(examples):
    """The whole piece's MIDI, the embedding exports and, while the players are off, the window's and the
    reconstruction's MIDI are deferred (made on a press, not on every new piece, level or window step); with the
    players on, the one-window files are made for them anyway and sent with the page."""
    at = run_app()
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    deferred = {"Piece as MIDI (quantised)", "Embeddings (.npy)", "Metadata (.csv)", "Projector vectors (.tsv)",
                "Projector metadata (.tsv)", "Window as MIDI", "Reconstruction as MIDI"}
    assert deferred <= set(buttons)
    for label in deferred:
        assert buttons[label].deferred_file_id and not buttons[label].url and buttons[label].ignore_rerun, label
    at.toggle(key="players").set_value(True).run()
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    for label in ("Window as MIDI", "Reconstruction as MIDI"):
        assert buttons[label].url and not buttons[label].deferred_file_id, label


def test_embedding_export_files_hold_one_row_per_patch_in_the_same_order():
    import io

    from midi_rae.dashboard.loaders import encode_song
    from midi_rae.dashboard.panel_embed import _embedding_files
    from midi_rae.pianoroll import midi_to_roll

    song_pm = make_song(bars=12, seed=5)
    roll = midi_to_roll(to_bytes(song_pm), name="export.mid")
    bundle = load_model()
    song = encode_song("export-test", "default", 4, 0, roll, bundle)
    level = 3
    W, N, D = song.level_emb[level].shape
    files = _embedding_files(song.key, level, song)
    vectors = np.load(io.BytesIO(files["npy"]))
    assert vectors.shape == (W * N, D) and vectors.dtype == np.float32
    assert np.array_equal(vectors, song.level_emb[level].reshape(W * N, D).astype(np.float32))
    tsv = np.array([[float(v) for v in line.split("\t")] for line in files["tsv"].decode().splitlines()])
    assert tsv.shape == (W * N, D) and np.allclose(tsv, vectors, rtol=1e-5, atol=1e-6)
    csv = files["csv"].decode().splitlines()
    assert csv[0] == "window,patch,window_start_bar,bars,bar_start,length_bars,pitch_from,pitch_to,non_empty"
    assert len(csv) == W * N + 1
    # level 3 of the default model: an 8x8 grid of 16 steps x 16 semitones (one bar of 4/4); row 0 is the top
    # windows are counted from 1, as the PCA's hover counts them ("window 1 · bar 1 · …")
    assert csv[1].startswith("1,0,1.0,bar 1,1.0,1.0,") and csv[9].startswith("1,8,1.0,bar 1,1.0,1.0,")
    assert csv[2].startswith("1,1,1.0,bar 2,2.0,1.0,")
    assert csv[N + 1].startswith("2,0,")
    assert files["meta_tsv"].decode().splitlines()[1].split("\t")[:2] == ["1", "0"]


def test_a_server_folder_pairs_each_encoder_with_its_decoder_in_any_case_and_leaves_out_training_state(tmp_path):
    from midi_rae.dashboard.sources import decoder_beside, decoders_beside, folder_checkpoints

    for name in ("SwinEncoder__best.pt", "SwinDecoder__best.pt", "SwinMAEDecoder__best.pt", "run_encoder.safetensors",
                 "run_decoder.safetensors", "solo_ENCODER.pt", "last.safetensors", "train_state.pt"):
        (tmp_path / name).write_bytes(b"x")
    files = folder_checkpoints(tmp_path)
    assert [f.name for f in files] == ["SwinEncoder__best.pt", "last.safetensors", "run_encoder.safetensors",
                                       "solo_ENCODER.pt"]
    assert [getattr(decoder_beside(f), "name", None) for f in files] == [
        "SwinDecoder__best.pt", None, "run_decoder.safetensors", None]
    assert [p.name for p in decoders_beside(files[0])] == ["SwinDecoder__best.pt", "SwinMAEDecoder__best.pt"]


def test_a_server_folder_offers_each_decoder_saved_beside_an_encoder(examples, tmp_path, monkeypatch):
    import shutil

    for name in ("SwinEncoder__best.pt", "SwinDecoder__best.pt", "SwinMAEDecoder__best.pt"):
        shutil.copy(FIXTURES / "six-level" / name, tmp_path / name)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(tmp_path))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert at.selectbox(key="ckpt_decoder_file").options == ["SwinDecoder__best.pt", "SwinMAEDecoder__best.pt"]
    at.selectbox(key="ckpt_decoder_file").select("SwinMAEDecoder__best.pt").run()
    assert not at.exception
    assert any("model: SwinEncoder__best.pt + SwinMAEDecoder__best.pt (6 levels)" in c for c in texts(at.caption))
    assert any("SwinMAEDecoder" in c and "embed_dim" in c for c in texts(at.sidebar.caption))


def test_a_server_folder_offers_the_mae_decoder_that_training_saves_beside_a_checkpoint(examples, tmp_path,
                                                                                        monkeypatch):
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models
    from midi_rae.swin import SwinMAEDecoder
    from midi_rae.config import ModelConfig

    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    mae = SwinMAEDecoder(**ModelConfig.from_dict(DEFAULT_CONFIG).mae_decoder_kwargs())
    save_checkpoint(tmp_path / "run" / "best.safetensors", enc.eval(), dec.eval(), DEFAULT_CONFIG, {})
    save_checkpoint(tmp_path / "run" / "best_mae_decoder.safetensors", None, mae.eval(), DEFAULT_CONFIG, {})
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(tmp_path))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    assert at.selectbox(key="ckpt_file").options == ["run/best.safetensors"]
    assert at.selectbox(key="ckpt_decoder_file").options == ["SwinDecoder in best.safetensors",
                                                               "best_mae_decoder.safetensors"]
    at.selectbox(key="ckpt_decoder_file").select("best_mae_decoder.safetensors").run()
    assert not at.exception
    assert any("model: run/best.safetensors + best_mae_decoder.safetensors (6 levels)" in c
               for c in texts(at.caption))
    assert any("SwinMAEDecoder" in c and "embed_dim" in c for c in texts(at.sidebar.caption))


def test_a_new_piece_opens_at_bar_one_and_the_window_cannot_start_past_the_last_full_window(examples):
    at = run_app()
    picker(at).select("b_song.mid").run()  # 12 bars of 4/4 at 4 steps per beat: 192 steps
    window = at.sidebar.slider(key="window_bar")
    assert window.max == 5  # a window from bar 5 (step 64) ends at the final step; from bar 6 it would pass it
    window.set_value(4).run()
    picker(at).select("a_song.mid").run()
    assert not at.exception and at.sidebar.slider(key="window_bar").value == 1


def test_ab_binarizes_b_at_its_own_threshold_and_says_when_b_learned_another_time_resolution(examples, tmp_path,
                                                                                              monkeypatch):
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models

    cfg = {**DEFAULT_CONFIG, "steps_per_beat": 3}
    enc, dec = build_models(cfg, "swin")
    save_checkpoint(tmp_path / "ckpts" / "triplets.safetensors", enc.eval(), dec.eval(), cfg, {"threshold": 0.35})
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(tmp_path / "ckpts"))
    at = run_app()
    at.selectbox(key="b_source").select("Server folder").run()
    assert not at.exception
    assert any(c.endswith("A is binarized at 0.60 (the threshold slider), B at 0.35, the threshold stored in it.")
               for c in texts(at.caption))
    assert texts(at.warning)[-1].startswith("B was trained at 3 steps per beat and is shown this piece at 4,")


@needs_fixtures()
def test_checkpoints_of_a_server_folder_are_named_by_their_place_in_it(examples, tmp_path, monkeypatch):
    import shutil

    for family in ("six-level", "seven-level"):
        (tmp_path / "ckpts" / family).mkdir(parents=True)
        for name in ("SwinEncoder__best.pt", "SwinDecoder__best.pt"):
            shutil.copy(FIXTURES / family / name, tmp_path / "ckpts" / family / name)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(tmp_path / "ckpts"))
    at = run_app()
    at.radio(key="ckpt_source").set_value("Server folder").run()
    at.selectbox(key="ckpt_file").select(tmp_path / "ckpts" / "six-level" / "SwinEncoder__best.pt").run()
    assert not at.exception
    assert any("model: six-level/SwinEncoder__best.pt + SwinDecoder__best.pt (6 levels)" in c
               for c in texts(at.caption))


def test_the_url_opens_the_shipped_model_example_window_and_transposition_it_names(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "Shipped hierarchy", "example": "b_song.mid", "bar": "4", "transpose": "-2"})
    at.run()
    assert not at.exception
    assert at.radio(key="ckpt_source").value == "Shipped hierarchy"
    assert picker(at).value == "b_song.mid"
    assert (at.slider(key="window_bar").value, at.slider(key="transpose").value) == (4, -2)
    assert any(c.startswith("**b_song.mid**") and "model: shipped hierarchy" in c for c in texts(at.caption))


def back_to(at: AppTest, address: dict, monkeypatch) -> AppTest:
    """The browser's Back (or Forward) button: Streamlit reruns the page with the address returned to, marked as a
    history navigation."""
    from midi_rae.dashboard import url_state

    monkeypatch.setattr(url_state, "_history_navigation", lambda: True)
    at.query_params.clear()
    at.query_params.update(address)
    at.run()
    monkeypatch.setattr(url_state, "_history_navigation", lambda: False)
    return at


def test_back_returns_the_window_to_the_bar_of_the_address_returned_to(examples, monkeypatch):
    at = run_app()
    at.slider(key="window_bar").set_value(3).run()
    before = dict(at.query_params)
    at.slider(key="window_bar").set_value(4).run()
    assert at.query_params["bar"] == "4"
    back_to(at, before, monkeypatch)
    assert not at.exception and at.slider(key="window_bar").value == 3
    assert dict(at.query_params) == before  # the entry returned to is kept, not overwritten with bar 4


def test_back_returns_to_the_example_shown_before_with_its_window_and_transposition(examples, monkeypatch):
    at = run_app()
    at.slider(key="window_bar").set_value(3).run()
    at.slider(key="transpose").set_value(2).run()
    before = dict(at.query_params)
    picker(at).select("b_song.mid").run()
    assert at.query_params["example"] == "b_song.mid"
    back_to(at, before, monkeypatch)
    assert not at.exception and picker(at).value == "a_song.mid"
    assert (at.slider(key="window_bar").value, at.slider(key="transpose").value) == (3, 2)
    assert any(c.startswith("**a_song.mid**") for c in texts(at.caption))
    assert dict(at.query_params) == before


def test_back_undoes_a_mask_ratio_and_a_second_model_the_address_returned_to_leaves_out(examples, monkeypatch):
    at = run_app()
    before = dict(at.query_params)
    at.slider(key="mask_ratio").set_value(0.7).run()
    at.selectbox(key="b_source").select("Shipped default").run()
    assert (at.query_params.get("mask"), at.query_params.get("b")) == ("0.7", "Shipped default")
    back_to(at, before, monkeypatch)
    assert not at.exception
    assert (at.slider(key="mask_ratio").value, at.selectbox(key="b_source").value) == (url_state.DEFAULT_MASK, "Off")
    assert dict(at.query_params) == before


def test_back_to_an_address_with_values_the_page_cannot_use_says_which(examples, monkeypatch):
    at = run_app()
    at.slider(key="window_bar").set_value(3).run()
    back_to(at, {"model": "Shipped default", "example": "a_song.mid", "bar": "2", "transpose": "99"}, monkeypatch)
    assert not at.exception and (at.slider(key="window_bar").value, at.slider(key="transpose").value) == (2, 0)
    assert ("This link's transpose (not a whole number from −12 to 12) could not be used, so the page opened without "
            "it." in texts(at.info))


@pytest.mark.parametrize("bar", ["\u0663", "\uff13", "1_0", " 3", "3.0"])  # Arabic-Indic and fullwidth digits
def test_a_bar_in_the_url_is_a_whole_number_in_ascii_digits(examples, bar):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"example": "a_song.mid", "bar": bar})
    at.run()
    assert not at.exception and at.slider(key="window_bar").value == 1
    assert any("bar (not a whole number from 1 to 100,000)" in i for i in texts(at.info))


def test_back_to_a_dropped_file_still_in_the_uploader_shows_it_again(examples, monkeypatch):
    at = upload(run_app(), "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    dropped = dict(at.query_params)
    assert dropped.get("dropped") == "dropped.mid"
    picker(at).select("b_song.mid").run()
    assert any(c.startswith("**b_song.mid**") for c in texts(at.caption))
    back_to(at, dropped, monkeypatch)
    assert not at.exception
    assert any(c.startswith("**dropped.mid**") for c in texts(at.caption))


def test_the_url_keeps_a_time_resolution_other_than_the_models_own_across_a_reload(examples):
    at = run_app()
    [resolution] = [s for s in at.select_slider if s.label.startswith("Time resolution")]
    resolution.set_value(12).run()
    at.slider(key="window_bar").set_value(3).run()
    assert at.query_params == {"model": "Shipped default", "example": "a_song.mid", "bar": "3", "transpose": "0",
                               "spb": "12"}
    reload = AppTest.from_file(APP, default_timeout=180)
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception
    assert [s.value for s in reload.select_slider if s.label.startswith("Time resolution")] == [12]
    assert reload.slider(key="window_bar").value == 3


def test_a_link_whose_bar_lies_past_the_last_window_says_where_the_window_starts(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"example": "b_song.mid", "bar": "99"})  # 12 bars: the last window starts at bar 5
    at.run()
    assert not at.exception and at.slider(key="window_bar").value == 5
    assert ("This link's bar 99 lies past the piece's last window, which starts at bar 5: the window starts there."
            in texts(at.info))


def test_the_url_names_a_shipped_model_in_any_case(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "shipped hierarchy"})  # as the header writes it
    at.run()
    assert not at.exception and at.radio(key="ckpt_source").value == "Shipped hierarchy"
    assert not any("model (not a shipped model's name)" in i for i in texts(at.info))


def test_b_set_to_upload_with_nothing_dropped_says_nothing_is_compared(examples):
    at = run_app()
    at.selectbox(key="b_source").select("Upload").run()
    assert not at.exception
    assert "Drop a checkpoint above; until then nothing is compared." in texts(at.sidebar.info)


def test_the_url_follows_the_page_and_says_nothing_of_an_upload(examples):
    at = run_app()
    at.slider(key="window_bar").set_value(3).run()
    at.slider(key="transpose").set_value(5).run()
    assert at.query_params == {"model": "Shipped default", "example": "a_song.mid", "bar": "3", "transpose": "5"}
    at.radio(key="ckpt_source").set_value("Upload").run()
    assert not at.exception and at.query_params == {}


def test_the_bare_address_is_kept_until_the_page_leaves_the_place_it_opens_at(examples, monkeypatch):
    at = run_app()  # the app's own address: written out in full, it was a second history entry of the same place
    assert not at.exception and dict(at.query_params) == {}
    at.slider(key="mask_ratio").set_value(0.7).run()
    assert dict(at.query_params) == {"model": "Shipped default", "example": "a_song.mid", "bar": "1",
                                     "transpose": "0", "mask": "0.7"}
    back_to(at, {}, monkeypatch)
    assert not at.exception and at.slider(key="mask_ratio").value == url_state.DEFAULT_MASK
    assert dict(at.query_params) == {}


def test_a_url_with_values_the_page_cannot_use_opens_the_defaults():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "Upload", "example": "../../etc/passwd", "bar": "x", "transpose": "99"})
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="ckpt_source").value == "Shipped default"
    assert (at.slider(key="window_bar").value, at.slider(key="transpose").value) == (1, 0)
    assert [i.value for i in at.info if i.value.startswith("This link")] == [
        "This link's model (not a shipped model's name), example (not a bundled example's name), bar (not a whole "
        "number from 1 to 100,000), transpose (not a whole number from −12 to 12) could not be used, so the page "
        "opened without them."]
    at.slider(key="mask_ratio").set_value(0.7).run()
    assert not [i for i in at.info if i.value.startswith("This link")]  # said once


def test_a_url_whose_piece_cannot_be_opened_opens_the_default_piece_at_its_own_first_bar(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"example": "gone.mid", "bar": "3", "transpose": "2"})
    at.run()
    assert not at.exception and picker(at).value == "a_song.mid"
    assert (at.slider(key="window_bar").value, at.slider(key="transpose").value) == (1, 0)
    assert [i.value for i in at.info if i.value.startswith("This link")] == [
        "This link's example (not a bundled example's name), bar and transpose (of that piece) could not be used, "
        "so the page opened without them."]


def test_a_url_the_page_can_use_is_opened_without_a_word(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"example": "b_song.mid", "bar": "2"})
    at.run()
    assert not at.exception and not [i for i in at.info if i.value.startswith("This link")]


def test_a_piece_address_that_opened_the_corpus_page_is_opened_by_the_piece_page(examples):
    script = """
import streamlit as st
from midi_rae.dashboard import url_state
if not st.session_state.get("on_piece_page"):
    url_state.carry_over()  # the Corpus page's first run
    st.session_state["on_piece_page"] = True
else:
    url_state.restore(["Shipped default"], ["a_song.mid", "b_song.mid"])
    st.write(f"{st.session_state.get('example')} at bar {st.session_state.get('window_bar')}")
"""
    at = AppTest.from_string(script, default_timeout=60)
    at.query_params.update({"model": "Shipped default", "example": "b_song.mid", "bar": "4", "transpose": "0"})
    at.run()
    at.query_params.clear()  # Streamlit leaves a page's query params behind when another page is opened
    at.run()
    assert not at.exception and [m.value for m in at.markdown] == ["b_song.mid at bar 4"]


def test_the_url_is_sent_again_when_a_run_starts_from_a_url_the_browser_had_not_yet_updated(monkeypatch):
    from streamlit.runtime.state.query_params import QueryParams

    sent = []
    send = QueryParams._send_query_param_msg
    monkeypatch.setattr(QueryParams, "_send_query_param_msg",
                        lambda self: (sent.append(dict(self._query_params)), send(self))[1])

    script = """
import streamlit as st
from midi_rae.dashboard import url_state
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
if st.session_state["runs"] == 1:
    url_state.record("Shipped default", "a_song.mid", 3, 0)
else:
    url_state.record(None, None, 1, 0)  # an upload: the URL names nothing
"""
    at = AppTest.from_string(script, default_timeout=60)  # (from_function leaves a __main__ that workers cannot run)
    at.run()
    assert sent[-1] == {"model": "Shipped default", "example": "a_song.mid", "bar": "3", "transpose": "0"}
    at.query_params.clear()  # the next run's request carries the URL from before the first run's reached the page
    sent.clear()
    at.run()
    assert not at.exception and sent and sent[-1] == {}


def test_the_header_says_how_many_drum_notes_are_left_out(examples):
    at = run_app()
    header = next(c for c in texts(at.caption) if c.startswith("**a_song.mid**"))
    assert re.search(r" · [\d,]+ notes \(and [\d,]+ of drums, left out\) · ", header)


def test_the_whole_piece_player_says_a_piece_with_tempo_changes_is_played_with_them(examples):
    song = make_song(bars=12, seed=3)
    song._tick_scales.append((song.time_to_tick(8.0), 60.0 / (90.0 * song.resolution)))  # 90 BPM from 8 s
    song._update_tick_to_time(song.time_to_tick(song.get_end_time()) + 1)
    at = upload(run_app(), "slows.mid", to_bytes(song))
    assert not at.exception
    assert ("Played at the piece's own tempo beat by beat, its changes kept; the files count bars in 4/4 "
            "throughout.") in texts(at.caption)


# ------------------------------------------------------------------ elements keep their places across runs


def element_places(at: AppTest) -> dict[tuple, str]:
    """Every element's place in the page (its path of child indices) and its kind: the browser keeps an element
    mounted across runs only while the same kind stays at the same place."""
    def walk(node, path: tuple) -> dict[tuple, str]:
        out: dict[tuple, str] = {}
        children = getattr(node, "children", None)
        for i, child in sorted(children.items()) if isinstance(children, dict) else ():
            kind = child.type + (f":{child.proto.component_name}" if child.type == "bidi_component" else "")
            out[path + (i,)] = kind
            out.update(walk(child, path + (i,)))
        return out
    return walk(at._tree, ())


def moved(before: dict[tuple, str], after: dict[tuple, str]) -> list[tuple]:
    """Places that hold another kind of element after the run than before it (each is mounted anew)."""
    return [p for p in sorted(set(before) & set(after)) if before[p] != after[p]]


def triplet_song(bars: int = 8) -> bytes:
    """Triplet eighths: onsets a 4-steps-per-beat grid cannot place, so the page warns about the grid."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(0)
    for k in range(bars * 12):
        t = k * 0.5 / 3
        piano.notes.append(pretty_midi.Note(90, 60 + (k * 5) % 12, t, t + 0.15))
    pm.instruments.append(piano)
    return to_bytes(pm)


def test_a_piece_with_a_grid_warning_leaves_every_element_below_it_in_place(examples):
    (examples / "d_triplets.mid").write_bytes(triplet_song(bars=20))
    at = run_app().run()  # the first run alone holds the plotly warm-up chart
    before = element_places(at)
    picker(at).select("d_triplets.mid").run()
    assert any("between the steps" in w for w in texts(at.warning))
    assert moved(before, element_places(at)) == []


def test_turning_b_on_and_off_leaves_the_elements_before_and_after_it_in_place(examples):
    at = run_app().run()
    off = element_places(at)
    at.selectbox(key="b_source").select("Shipped first").run()
    assert any("A/B comparison" in s for s in texts(at.subheader))
    on = element_places(at)
    at.selectbox(key="b_source").select("Off").run()
    assert moved(off, on) == [] and moved(on, element_places(at)) == []


def test_the_ab_comparison_is_drawn_right_under_the_masked_reconstruction_it_compares(examples):
    at = run_app()
    at.selectbox(key="b_source").select("Shipped first").run()
    heads = texts(at.subheader)
    after = heads[heads.index("Masked reconstruction") + 1:][:2]
    assert after[0].startswith("A/B comparison: A = shipped default, B = shipped first")
    assert after[1] == "Listen and download"


def test_a_dropped_file_leaves_the_sidebar_controls_in_place(examples):
    at = run_app().run()
    before = element_places(at)
    upload(at, "dropped.mid", to_bytes(make_song(bars=9, seed=5)))
    assert "Showing the dropped file; pick an example to see that instead." in texts(at.sidebar.caption)
    assert moved(before, element_places(at)) == []


def test_a_piece_that_fits_in_one_window_leaves_the_controls_after_the_window_in_place(examples):
    (examples / "d_short.mid").write_bytes(to_bytes(make_song(bars=6, seed=4)))
    at = run_app().run()
    before = element_places(at)
    picker(at).select("d_short.mid").run()
    after = element_places(at)
    assert any("fits in one window" in c for c in texts(at.sidebar.caption))
    assert [(before[p], after[p]) for p in moved(before, after)] == [("slider", "caption")]  # inside its slot


# ------------------------------------------------------------------ a researcher's audit of the analysis views


def one_window_app(examples) -> AppTest:
    (examples / "d_short.mid").write_bytes(to_bytes(make_song(bars=6, seed=4)))
    at = run_app()
    picker(at).select("d_short.mid").run()
    return at


def test_song_structure_of_a_one_window_piece_says_there_is_nothing_to_compare(examples):
    from midi_rae.dashboard.panel_structure import ONE_WINDOW

    at = one_window_app(examples)
    at.session_state["analysis_tab"] = "Song structure"
    at.run()
    assert not at.exception and ONE_WINDOW in texts(at.info)


def test_level_ablation_of_a_one_window_piece_says_no_level_can_be_replaced(examples):
    at = one_window_app(examples)
    at.session_state["analysis_tab"] = "Level ablation"
    at.run()
    assert not at.exception
    assert ("The piece fits in one window, so no level can be replaced: its mean over the piece's windows is the "
            "window itself, and there is no other window to swap in; ablate a longer piece.") in texts(at.info)
    assert not any("Levels costing at least" in c for c in texts(at.caption))


def test_the_phrase_probe_names_the_levels_a_short_piece_gives_no_curve(examples):
    at = one_window_app(examples)
    at.session_state["analysis_tab"] = "Phrase probe"
    at.run()
    note = next(c for c in texts(at.caption) if c.startswith("No curve for "))
    assert "level 0 (1×1)" in note and "level 5" not in note


def test_the_phrase_probe_gives_column_spans_in_the_pieces_own_bars():
    import pretty_midi

    from midi_rae.checkpoint import load_model
    from midi_rae.dashboard.panel_phrases import column_spans
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=8)
    pm.time_signature_changes = [pretty_midi.TimeSignature(5, 4, 0.0)]  # 20 steps a bar at 4 steps per beat
    spans = column_spans(load_model().model_config, midi_to_roll(to_bytes(pm)))
    assert spans.startswith("level 0: 6.4 bars") and "level 3: 0.8 bars" in spans


def test_b_the_same_file_as_an_uploaded_a_is_the_same_checkpoint(examples):
    at = run_app()
    at.radio(key="ckpt_source").set_value("Upload").run()
    data = (ROOT / "assets" / "first.safetensors").read_bytes()
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    at.selectbox(key="b_source").select("Shipped first").run()
    assert not at.exception
    assert not any("compared with B" in c for c in texts(at.caption))
    assert texts(at.info)[-1] == ("B is the same checkpoint as A (mine.safetensors); pick another one as B to "
                                  "compare two models.")


def test_b_the_same_as_a_is_not_announced_as_a_comparison(examples):
    at = run_app()
    at.selectbox(key="b_source").select("Shipped default").run()
    assert not any("compared with B" in c for c in texts(at.caption))
    assert any("B is the same checkpoint as A" in i for i in texts(at.info))


def test_the_sidebar_names_a_fine_tuned_models_last_run_and_its_batch():
    from midi_rae.dashboard.sidebar import training_words

    meta = {"step": 2029, "train_config": {"batch_size": 512, "init": "assets/hierarchy.safetensors"}}
    assert training_words(meta) == "trained 2,029 steps of batch 512, fine-tuned from another checkpoint"
    assert training_words({"step": 800}) == "trained 800 steps"  # a run's best: the step it was saved at


def test_a_drop_over_a_dropped_file_leaves_no_address_of_the_example_between_them(examples):
    """The browser empties the uploader first: that run shows the example, whose address was pushed as an entry of
    the browser's history (Back from the second file went there)."""
    at = upload(run_app(), "first.mid", to_bytes(make_song(bars=9, seed=5)))
    at.file_uploader(key="midi_upload").set_value(None).run()  # the drop's first request
    assert not at.exception and at.query_params.get("dropped") == "first.mid" and "example" not in at.query_params
    at = upload(at, "second.mid", to_bytes(make_song(bars=9, seed=6)))
    assert at.query_params.get("dropped") == "second.mid"


def test_a_file_removed_by_its_cross_leaves_the_examples_address_from_the_next_run(examples):
    at = upload(run_app(), "first.mid", to_bytes(make_song(bars=9, seed=5)))
    at.file_uploader(key="midi_upload").set_value(None).run()  # ×: the example is shown
    at.slider(key="window_bar").set_value(2).run()
    assert not at.exception and "dropped" not in at.query_params and at.query_params.get("bar") == "2"
    assert at.query_params.get("example") == picker(at).value


def test_a_dropped_file_is_named_in_the_url_with_the_shipped_model(examples):
    at = run_app()
    at.radio(key="ckpt_source").set_value("Shipped hierarchy").run()
    upload(at, "my piece.mid", to_bytes(make_song(bars=9, seed=5)))
    assert not at.exception and at.query_params == {"model": "Shipped hierarchy", "dropped": "my piece.mid"}


def test_a_reload_of_a_dropped_file_keeps_the_model_and_says_the_file_must_be_dropped_again(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "Shipped hierarchy", "dropped": "[x](http://evil) my piece.mid"})
    at.run()
    assert not at.exception and at.radio(key="ckpt_source").value == "Shipped hierarchy"
    assert [i.value for i in at.info if i.value.startswith("This address")] == [
        "This address was made while a dropped file, evil) my piece.mid, was shown: a dropped file stays only "
        "with the page it was dropped in, not in its address, so drop it again here to see it."]


def test_the_header_says_what_the_reader_did_that_the_roll_does_not_show(examples):
    """A performance with the sustain pedal and a drone never turned off: both said under the header."""
    import io

    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    events = [mido.Message("note_on", note=36, velocity=80, time=0),  # no note-off: to the end of its track
              mido.Message("control_change", control=64, value=127, time=0)]
    for i in range(32):
        events += [mido.Message("note_on", note=60 + i % 7, velocity=80, time=0),
                   mido.Message("note_off", note=60 + i % 7, velocity=0, time=240)]
    mid.tracks.append(mido.MidiTrack(events))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    at = upload(run_app(), "pedalled.mid", buffer.getvalue())
    assert not at.exception, at.exception
    assert ("Read from the file: 1 note with no note-off is drawn until its key is struck again, an All Notes Off or "
            "the end of the track. The sustain pedal is not applied (1 press): notes are drawn as long as their keys "
            "were held. Turn on *Sustain pedal* under Time and pitch in the sidebar to apply it.") in texts(at.caption)
    assert any(c.startswith("**pedalled.mid** · 33 notes · ") for c in texts(at.caption))
    at.toggle(key="sustain_pedal").set_value(True).run()
    assert not at.exception, at.exception
    assert ("Read from the file: 1 note with no note-off is drawn until its key is struck again, an All Notes Off or "
            "the end of the track. The sustain pedal is applied (1 press): a note it holds sounds until the pedal "
            "lifts or its key is struck again.") in texts(at.caption)


def test_a_dropped_piece_whose_first_window_is_silent_opens_at_its_first_note(examples):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)  # a bar is 2 s: the first note at bar 50
    inst = pretty_midi.Instrument(0)
    inst.notes += [pretty_midi.Note(velocity=90, pitch=60 + i, start=98.0 + i, end=98.5 + i) for i in range(16)]
    pm.instruments.append(inst)
    at = upload(run_app(), "late.mid", to_bytes(pm))
    assert not at.exception, at.exception
    assert at.slider(key="window_bar").value == 50


def test_a_refused_drop_over_a_dropped_file_says_in_the_sidebar_that_the_earlier_file_is_still_shown(examples):
    at = upload(run_app(), "first.mid", to_bytes(make_song(bars=9, seed=5)))
    at = upload(at, "garbage.mid", b"MThd not a midi file at all")
    assert not at.exception and any("garbage.mid could not be opened." in e for e in texts(at.error))
    assert ("The dropped file could not be opened; still showing first.mid, shown before it. Pick an example or "
            "drop another file." in texts(at.sidebar.caption)), texts(at.sidebar.caption)


def test_the_shipped_model_compared_as_b_and_the_mask_ratio_travel_in_the_url(examples):
    at = run_app()
    b = next(o for o in at.selectbox(key="b_source").options if o.startswith("Shipped ") and o != "Shipped default")
    at.selectbox(key="b_source").set_value(b).run()
    at.slider(key="mask_ratio").set_value(0.7).run()
    assert not at.exception and (at.query_params.get("b"), at.query_params.get("mask")) == (b, "0.7")
    reload = AppTest.from_file(APP, default_timeout=180)  # a new session from that URL
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception and reload.selectbox(key="b_source").value == b
    assert reload.slider(key="mask_ratio").value == pytest.approx(0.7)
    reload.selectbox(key="b_source").set_value("Off").run()
    reload.slider(key="mask_ratio").set_value(0.5).run()
    assert "b" not in reload.query_params and "mask" not in reload.query_params  # the defaults are left out


def test_a_url_whose_b_or_mask_cannot_be_used_says_so(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"b": "Upload", "mask": "0.33"})
    at.run()
    assert not at.exception and at.selectbox(key="b_source").value == "Off"
    assert any("b (not a shipped model's name), mask (not a ratio from 0 to 1 in steps of 0.05)" in i.value
               for i in at.info)


def test_the_mask_seed_travels_in_the_url_so_a_reload_shows_the_same_mask(examples):
    at = run_app()
    [b for b in at.button if b.label == "New mask"][0].click().run()
    assert not at.exception and at.query_params.get("seed") == "1"
    reload = AppTest.from_file(APP, default_timeout=180)  # a new session from that URL
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception and reload.number_input(key="mask_seed").value == 1
    assert image_rows(reload)[1][1] == image_rows(at)[1][1]  # the same masked input
    reload.number_input(key="mask_seed").set_value(0).run()
    assert "seed" not in reload.query_params  # seed 0 is left out


def test_back_undoes_a_new_mask(examples, monkeypatch):
    at = run_app()
    before, masked = dict(at.query_params), image_rows(at)[1][1]
    [b for b in at.button if b.label == "New mask"][0].click().run()
    back_to(at, before, monkeypatch)
    assert not at.exception and at.number_input(key="mask_seed").value == 0
    assert image_rows(at)[1][1] == masked and dict(at.query_params) == before


def _threshold_slider(at):
    return next(s for s in at.slider if s.key.startswith("threshold::"))


def test_the_threshold_and_empty_mask_ratio_travel_in_the_url_so_a_reload_shows_the_same_reconstruction(examples):
    at = run_app()
    assert "threshold" not in at.query_params and "empty" not in at.query_params  # the checkpoint's own: left out
    _threshold_slider(at).set_value(0.3).run()
    at.slider(key="empty_mask_ratio").set_value(0.4).run()
    assert not at.exception and (at.query_params.get("threshold"), at.query_params.get("empty")) == ("0.3", "0.4")
    reload = AppTest.from_file(APP, default_timeout=180)  # a new session from that URL
    reload.query_params.update(dict(at.query_params))
    reload.run()
    assert not reload.exception
    assert (_threshold_slider(reload).value, reload.slider(key="empty_mask_ratio").value) == (0.3, 0.4)
    assert image_rows(reload)[1] == image_rows(at)[1]  # the same masked input and reconstruction


def test_back_returns_the_threshold_and_empty_mask_ratio_to_the_checkpoints_own(examples, monkeypatch):
    at = run_app()
    before, own = dict(at.query_params), _threshold_slider(at).value
    _threshold_slider(at).set_value(0.3).run()
    at.slider(key="empty_mask_ratio").set_value(0.4).run()
    back_to(at, before, monkeypatch)
    assert not at.exception and (_threshold_slider(at).value, at.slider(key="empty_mask_ratio").value) == (own, 0.05)
    assert dict(at.query_params) == before


def test_a_url_whose_threshold_cannot_be_used_says_so(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"threshold": "0.97"})
    at.run()
    assert not at.exception and _threshold_slider(at).value == 0.6  # the test checkpoint's own
    assert any("threshold (not a value from 0.05 to 0.95 in steps of 0.05)" in i.value for i in at.info)


def test_a_url_whose_seed_cannot_be_used_says_so(examples):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"seed": "1000001"})
    at.run()
    assert not at.exception and at.number_input(key="mask_seed").value == 0
    assert any("seed (not a whole number from 0 to 1,000,000)" in i.value for i in at.info)


def test_back_sets_the_mask_controls_without_streamlits_warning_of_a_widget_given_two_values(examples, monkeypatch):
    """A widget drawn with a default value whose state was also set logs a warning with a stack trace."""
    from streamlit.elements.lib import policies

    warned: list = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda *a, **k: warned.append(a))
    monkeypatch.setattr(policies.runtime, "exists", lambda: True)  # AppTest runs without Streamlit's runtime
    at = run_app()
    before = dict(at.query_params)
    at.slider(key="mask_ratio").set_value(0.7).run()
    [b for b in at.button if b.label == "New mask"][0].click().run()
    back_to(at, before, monkeypatch)
    assert not at.exception and at.slider(key="mask_ratio").value == url_state.DEFAULT_MASK
    assert warned == []


def test_a_new_piece_opens_without_the_sustain_pedal_the_piece_before_had_on(examples):
    at = run_app()
    at.toggle(key="sustain_pedal").set_value(True).run()
    at = upload(at, "next.mid", to_bytes(make_song(bars=9, seed=5)))
    assert not at.exception and at.toggle(key="sustain_pedal").value is False


@pytest.mark.parametrize("ratio", ["nan", "inf", "-inf", "1e400"])
def test_a_url_whose_mask_is_not_a_number_is_ignored_like_any_other(examples, ratio):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"mask": ratio})
    at.run()
    assert not at.exception and at.slider(key="mask_ratio").value == 0.5
    assert any("mask (not a ratio from 0 to 1 in steps of 0.05)" in i.value for i in at.info)


def test_the_threshold_says_it_starts_at_the_checkpoints_own(examples):
    at = run_app()
    slider = next(s for s in at.slider if s.label == "Binarization threshold")
    assert slider.value == pytest.approx(0.6)
    assert "this checkpoint's own, chosen on validation (0.60)" in slider.help


def test_the_3d_view_is_titled_with_its_level_grid_and_dimension_as_the_2d_one(examples):
    import json

    at = run_app()
    at.toggle(key="pca_3d").set_value(True).run()
    titles = [f["layout"]["title"]["text"] for f in map(json.loads, chart_specs(at)) if "title" in f["layout"]]
    flat = next(t for t in titles if "patch embeddings" in t)
    assert not at.exception and flat.split("<br>")[0] + " in 3-D</b>" in titles


def test_the_window_roll_draws_a_repeated_notes_first_step_lighter_and_says_so(examples):
    import base64
    import io

    import numpy as np
    from PIL import Image

    from midi_rae.dashboard import panel_roll
    from midi_rae.dashboard.roll_strip import RESTRUCK
    from midi_rae.figures import NOTE
    from midi_rae.pianoroll import PianoRoll

    array, onsets = np.zeros((128, 64), np.uint8), np.zeros((128, 64), np.uint8)
    array[60, 0:12] = 1
    onsets[60, [0, 4, 8]] = 1  # three notes of 4 steps, back to back
    roll = PianoRoll(array=array, steps_per_beat=4, name="r", duration_s=6.0, tempo_bpm=120.0, beats=16,
                     beat_times=np.arange(16) * 0.5, step_times=np.arange(64) * 0.125, time_signature=(4, 4),
                     onsets=onsets, n_notes=3, instruments=["Piano"])
    data = panel_roll._window_data(("r",), 0, 64, (), (8, 8), roll, "Window")
    png = Image.open(io.BytesIO(base64.b64decode(data["image"].split(",", 1)[1]))).convert("RGB")
    row = data["hi"] - 60  # the image's top row is the highest pitch shown
    colour = lambda step: "#%02x%02x%02x" % png.getpixel((step, row))  # noqa: E731
    assert [colour(s) for s in (0, 3, 4, 5, 8)] == [NOTE, NOTE, RESTRUCK, NOTE, RESTRUCK]
    assert data["title"] == f"Window · {panel_roll.RESTRUCK_NOTE}"


def test_reconstruction_along_the_piece_scores_every_window_as_the_core_does_and_a_click_moves_the_window(examples):
    import base64

    from conftest import live_figures
    from midi_rae.inference import MaskSettings
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.piece_scores import score_piece

    at = run_app()
    at.session_state["analysis_tab"] = "F1 along the piece"
    at.run()
    assert not at.exception
    shown = next(s for s in at.slider if s.label == "Binarization threshold")
    settings = MaskSettings(at.slider(key="mask_ratio").value, at.slider(key="empty_mask_ratio").value,
                            at.number_input(key="mask_seed").value, shown.value)  # the sidebar's, as the page reads
    core = score_piece(load_model(), midi_to_roll(examples / "a_song.mid"), settings)
    chart = live_figures(at)["along_chart"]
    masked = next(t for t in chart["data"] if t["name"] == "masked patches")
    values = lambda v: np.frombuffer(base64.b64decode(v["bdata"]), v["dtype"]) if isinstance(v, dict) else v  # noqa
    assert values(masked["x"]).tolist() == [s / 16 + 1 for s in core.starts.tolist()]  # each at its first bar
    assert np.allclose(values(masked["y"]), core.f1("masked"), equal_nan=True)
    said = next(c.value for c in at.caption if c.value.startswith("Over the whole piece"))
    assert f"F1 {core.pooled('masked'):.3f} on masked patches, {core.pooled('plain'):.3f} unmasked" in said
    worst = next(t for t in page_tables(at) if "F1, masked patches" in t.columns)
    assert float(worst["F1, masked patches"].tolist()[0]) == pytest.approx(np.nanmin(core.f1("masked")), abs=1e-4)
    at.session_state["along_chart"] = {"click": {"x": 5.0}}  # what the browser sends for a click on bar 5's point
    at.run()
    assert not at.exception and at.slider(key="window_bar").value == 5


def test_with_b_on_f1_along_the_piece_gives_bs_curve_and_the_pieces_b_minus_a(examples):
    from conftest import live_figures

    at = run_app()
    at.session_state["analysis_tab"] = "F1 along the piece"
    at.run()
    at.selectbox(key="b_source").select("Shipped first").run()
    assert not at.exception
    names = [t["name"] for t in live_figures(at)["along_chart"]["data"]]
    assert names == ["unmasked", "masked patches", "masked patches, B"]
    said = next(c.value for c in at.caption if c.value.startswith("Over the whole piece"))
    assert re.search(r"; B \d\.\d{3} on masked patches \(B − A (0\.000|[+−]\d\.\d{3})\)", said), said
    assert any(c.value.startswith("These are this window's scores") for c in at.caption)


def test_the_header_says_a_later_metre_of_other_beats_is_drawn_beat_for_beat():
    import pretty_midi

    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    pm = make_song(bars=16, seed=3)  # 120 BPM: 4/4, two bars of 7/8 from 8.0 s, then 4/4 again from 11.5 s
    pm.time_signature_changes = [pretty_midi.TimeSignature(4, 4, 0.0), pretty_midi.TimeSignature(7, 8, 8.0),
                                 pretty_midi.TimeSignature(4, 4, 11.5)]
    assert timing_text(midi_to_roll(to_bytes(pm))).endswith(
        " · 4 steps per beat, every beat alike: the beats of 7/8's (eighth notes) later in the piece are drawn as "
        "long as 4/4's, and played at their own length")


def _late_metre_bytes(beats_before: int) -> bytes:
    """Quarter notes on C4 for 32 beats; no time signature until 3/4 after `beats_before` beats."""
    import mido

    events = []
    for b in range(32):
        if b == beats_before:
            events.append(mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0 if b == 0 else 80))
        events.append(mido.Message("note_on", note=60, velocity=90, time=0 if b == 0 or b == beats_before else 80))
        events.append(mido.Message("note_off", note=60, velocity=0, time=400))
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack(events))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_an_unwritten_opening_beat_before_the_first_time_signature_is_named_in_beats_not_as_a_bar_of_4_4():
    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    text = timing_text(midi_to_roll(_late_metre_bytes(1)))
    assert "(it opens with 1 beat before the file's first time signature, drawn at the end of bar 1:" in text, text


def test_unwritten_opening_bars_are_said_to_be_read_in_4_4_and_drawn_in_the_main_metres_bar_lines():
    from midi_rae.dashboard.page import timing_text
    from midi_rae.pianoroll import midi_to_roll

    text = timing_text(midi_to_roll(_late_metre_bytes(8)))
    assert "(the file writes no time signature before its 3/4: the bars before it are read as MIDI's 4/4" in text, text


def test_f1_along_the_piece_at_mask_ratio_0_says_there_is_nothing_masked_to_score(examples):
    at = run_app()
    at.session_state["analysis_tab"] = "F1 along the piece"
    at.run()
    at.slider(key="mask_ratio").set_value(0.0).run()
    assert not at.exception
    said = next(c.value for c in at.caption if c.value.startswith("Over the whole piece"))
    assert "no F1 on masked patches" in said and "nan" not in said
    assert any(c.value.startswith("No window has a masked patch to score") for c in at.caption)
