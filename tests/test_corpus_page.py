"""The Corpus page in Streamlit's AppTest: an index picked from the server folder, the map, reconstruction views,
search from the corpus, Open (a passage into the piece view), building from uploads, and find-similar from the
piece view."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import FIXTURES, ROOT, needs_fixtures
from html_tables import page_tables
from test_index import _notes, _write, quiet_build

TIMEOUT = 240


@pytest.fixture(scope="module")
def index_home(tmp_path_factory):
    """A folder of one index of four generated pieces in two collections."""
    home = tmp_path_factory.mktemp("indexes")
    src = home / "src"
    for i in range(4):
        _write(src / ("alpha" if i < 2 else "beta") / f"piece_{i}.mid", [(_notes(10, seed=i, low=45 + 2 * i), 0, 0)])
    quiet_build([src], home / "idx" / "small")
    return home / "idx"


CORPUS_SCRIPT = """
import streamlit as st
st.set_page_config(layout="wide")
from midi_rae.dashboard.corpus_page import main
main()
"""


def _corpus_app(index_home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("MIDI_RAE_INDEXES", str(index_home))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_string(CORPUS_SCRIPT, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    at.sidebar.radio(key="corpus_source").set_value("Server folder").run()
    assert not at.exception, at.exception
    return at


def _map(at) -> dict:
    """The map's Vega-Lite spec as the page sent it, its points (which Streamlit sends as Arrow) under "points"."""
    import json

    import pyarrow as pa

    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    spec["points"] = pa.ipc.open_stream(charts[0].proto.data.data).read_all().to_pylist()
    return spec


def test_corpus_page_map(index_home, monkeypatch):
    at = _corpus_app(index_home, monkeypatch)
    assert "4 pieces in 2 collections" in at.caption[0].value
    assert not at.get("plotly_chart")  # the map is the page's only chart, and not plotly
    spec = _map(at)
    points = spec["points"]
    assert spec["encoding"]["color"]["scale"]["domain"] == ["alpha", "beta"]          # coloured by collection
    assert spec["encoding"]["shape"]["scale"]["range"] == ["circle", "square"]        # and shaped by it
    assert {p["value"] for p in points} == {"alpha", "beta"}
    assert sorted(p["row"] for p in points) == list(range(len(points)))              # what a click reports
    hover = points[0]["passage"]
    assert hover.startswith(("alpha/piece_", "beta/piece_")) and "bars 1–8" in "".join(p["passage"] for p in points)
    assert re.fullmatch(r"\w+/piece_\d · bars \d+–\d+ · F1 unmasked [01]\.\d\d, masked [01]\.\d\d", hover)
    assert re.fullmatch(r"PC1 \(\d+% of the variance\)", spec["encoding"]["x"]["title"])
    at.selectbox(key="corpus_color").set_value("Masked F1 (ratio 0.5)").run()
    assert not at.exception
    spec = _map(at)
    assert spec["encoding"]["color"]["type"] == "quantitative"
    assert spec["encoding"]["color"]["legend"]["format"] == ".3~g"                 # one value alone: "4", not 4.000000
    assert "shape" not in spec["encoding"]                                          # a scale needs no shapes
    assert all(0 <= p["value"] <= 1 for p in spec["points"])
    at.select_slider(key="corpus_level").set_value(1).run()
    assert not at.exception and "at level 1" in _map(at)["title"]["text"]


def test_a_click_on_the_map_reports_the_row_of_the_point_clicked():
    from midi_rae.dashboard.corpus_map import PICK, picked_row

    class Event:
        selection = {PICK: [{"row": 17}]}

    class Nothing:
        selection = {PICK: []}

    assert picked_row(Event(), 20) == 17
    assert picked_row(Nothing(), 20) is None and picked_row(None, 20) is None
    assert picked_row(Event(), 17) is None  # a row the index does not have (a stale selection) opens nothing


def test_a_window_with_no_f1_is_said_to_have_none_in_the_maps_tooltip(index_home, monkeypatch):
    import pyarrow as pa

    from midi_rae.dashboard import corpus_map

    drawn, map_spec = {}, corpus_map.map_spec

    def spy(*args, **kw):
        drawn["spec"], drawn["points"] = map_spec(*args, **kw)
        return drawn["spec"], drawn["points"]

    monkeypatch.setattr(corpus_map, "map_spec", spy)
    real = corpus_map.src.map_columns

    def one_silent(uri, stamp):  # the first window as a silent one would be stored: no F1
        cols = {k: v.copy() for k, v in real(uri, stamp).items()}
        cols["f1_masked"] = cols["f1_masked"].astype(float)
        cols["f1_masked"][0] = np.nan
        return cols

    monkeypatch.setattr(corpus_map.src, "map_columns", one_silent)
    at = _corpus_app(index_home, monkeypatch)
    at.selectbox(key="corpus_color").set_value("Masked F1 (ratio 0.5)").run()
    assert not at.exception, at.exception
    assert "points" in drawn, [e.value for e in at.error] + [c.value for c in at.caption]
    points: pa.Table = drawn["points"]
    shown = dict(zip(points.column("row").to_pylist(), points.column("shown").to_pylist()))
    assert shown[0] == "none (nothing to score)" and all(v[0].isdigit() for r, v in shown.items() if r != 0)
    assert {"field": "shown", "title": "Masked F1 (ratio 0.5)"} in drawn["spec"]["encoding"]["tooltip"]


def test_the_map_gives_no_share_of_the_variance_where_every_window_embeds_alike():
    from midi_rae.dashboard.corpus_map import _pca2

    same = np.tile(np.linspace(-1, 1, 64, dtype=np.float32), (50, 1))
    coords, share = _pca2(same)
    assert share.size == 0 and np.abs(coords).max() < 1e-4  # not "PC1 (0% of the variance)"
    _, share = _pca2(same + np.random.default_rng(0).normal(size=same.shape).astype(np.float32))
    assert share.size == 2 and 0 < share[1] <= share[0] < 1


def test_a_damaged_index_in_the_server_folder_is_named_and_the_others_stay(index_home, tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(index_home / "small", home / "good")
    shutil.copytree(index_home / "small", home / "broken", ignore=shutil.ignore_patterns("view"))
    for f in (home / "broken" / "windows.lance" / "_versions").iterdir():
        f.write_bytes(b"garbage")
    at = _corpus_app(home, monkeypatch)
    box = at.sidebar.selectbox(key="corpus_server_index")
    assert [Path(o).name for o in box.options] == ["broken", "good"]
    box.set_value(home / "broken").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["broken is not a readable index: its Lance tables are damaged or "
                                           "incomplete (rebuild it with 'midi-rae index --rebuild')."]
    at.sidebar.selectbox(key="corpus_server_index").set_value(home / "good").run()
    assert not at.exception and not at.error and "4 pieces in 2 collections" in at.caption[0].value


def test_data_files_damaged_behind_a_good_snapshot_are_named_in_the_tabs_that_read_them(index_home, tmp_path,
                                                                                        monkeypatch):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(index_home / "small", home / "cut")  # the map's snapshot stays whole
    for f in (home / "cut" / "windows.lance" / "data").iterdir():
        f.write_bytes(f.read_bytes()[:1000])
    at = _corpus_app(home, monkeypatch)
    assert not at.exception and not at.error and "4 pieces in 2 collections" in at.caption[0].value
    sentence = ("cut is not a readable index: its Lance tables are damaged or incomplete (rebuild it with "
                "'midi-rae index --rebuild').")
    assert [w.value for w in at.warning] == [sentence + " Its map is drawn from the snapshot written with it; the "
                                             "search and the reconstruction views need it rebuilt."]  # said at once
    for tab in ("Reconstruction", "Search the corpus"):
        at.session_state["corpus_tab"] = tab
        at.run()
        if tab == "Search the corpus":
            at.button(key="corpus_search").click().run()
        assert not at.exception, at.exception
        assert [e.value for e in at.error] == [sentence]


def test_corpus_page_reconstruction_and_open(index_home, monkeypatch):
    at = _corpus_app(index_home, monkeypatch)
    at.session_state["corpus_tab"] = "Reconstruction"
    at.run()
    assert not at.exception, at.exception
    frames = at.dataframe
    assert len(frames) == 2 and set(frames[0].value["collection"]) == {"alpha", "beta"}
    assert len(at.get("image")) == 4  # the worst passages: each piece's 3 windows overlap, so one card per piece
    assert len(at.get("plotly_chart")) == 3  # F1 vs density, errors by pitch, errors by position in the bar
    # Open: the passage becomes the piece view's piece, its window at the passage's bar
    opens = [b for b in at.button if b.label == "Open"]
    opens[0].click().run()
    assert not at.exception, at.exception
    from midi_rae.dashboard.session import K

    opened = at.session_state[K.OPENED_PIECE]
    assert opened.name.startswith("piece_") and opened.name.endswith(".mid") and opened.data[:4] == b"MThd"
    assert at.session_state[K.WINDOW_BAR] >= 1
    assert at.session_state[K.OPENED_FROM][:2] == (opened.key, "small")  # the page can say which index, which model


def test_corpus_page_search(index_home, monkeypatch):
    at = _corpus_app(index_home, monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.number_input(key="corpus_q_bar").set_value(2)
    at.button(key="corpus_search").click().run()
    assert not at.exception, at.exception
    md = [m.value for m in at.markdown if "bars" in m.value]
    query = at.selectbox(key="corpus_q_piece").format_func(at.selectbox(key="corpus_q_piece").value)
    pieces = [f"{m.split('**')[2].strip(' ·')}{m.split('**')[3]}" for m in md]
    # the query's own passage is left out (every window of its 10-bar piece overlaps bars 2-9 by more than half),
    # and each other piece's three overlapping windows make one passage
    assert len(md) == 3 and query not in pieces and len(set(pieces)) == 3, (query, md)


def _build_page(tmp_path, monkeypatch) -> AppTest:
    """The Corpus page with "Build from files" chosen, its cache under tmp_path."""
    monkeypatch.setenv("MIDI_RAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_string(CORPUS_SCRIPT, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.radio(key="corpus_source").set_value("Build from files").run()
    return at


def test_corpus_page_builds_from_uploads(tmp_path, monkeypatch):
    import io
    import zipfile

    at = _build_page(tmp_path, monkeypatch)
    assert not at.exception
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(2):
            p = _write(tmp_path / f"z{i}.mid", [(_notes(9, seed=40 + i), 0, 0)])
            z.write(p, f"mycoll/z{i}.mid")
        z.writestr("notes.txt", "ignored")
    from midi_rae.dashboard.uploads import unpack_uploads, write_uploads

    files, notes = unpack_uploads([("set.zip", buf.getvalue()), ("bad.mid", b"MThd nope")])
    assert sorted(files) == ["mycoll/z0.mid", "mycoll/z1.mid", "uploaded/bad.mid"]
    assert notes == ["1 other file in set.zip (it is neither MIDI nor PNG) is left out."]
    # the uploader itself: AppTest cannot drop files, so the built index is handed over as the button would
    from midi_rae.dashboard import corpus_sources as src
    from midi_rae import load_model
    from midi_rae.dashboard.corpus_similar import CK

    paths = write_uploads(files, tmp_path / "files")
    report = src.build(paths, tmp_path / "built", load_model(), lambda d, t, n: None)
    assert report.added == 2 and report.failed[0][0].endswith("bad.mid")
    from midi_rae.dashboard.corpus_page import _built_from

    assert _built_from("these 3 files", tmp_path / "built") == (  # the sidebar, beside the uploader
        "The index shown is built from these 3 files, 1 file of which could not be read (listed on the page).")
    at.session_state[CK.BUILT] = str(tmp_path / "built")
    at.run()
    assert not at.exception, at.exception
    assert at.caption[0].value.startswith("**the uploaded files** · 2 pieces in 1 collection · ")
    from midi_rae.dashboard.corpus_page import BUILT_BEFORE

    assert BUILT_BEFORE in [c.value for c in at.sidebar.caption]  # the uploader is empty: what is shown, said
    assert at.caption[0].value.endswith(" · 1 file could not be read")
    # the file that failed stays named with the index, after the run that built it
    (listing,) = at.expander
    assert listing.label == "1 file could not be read: which, and why"
    assert listing.markdown[0].value.startswith("- bad.mid: ")
    at.run()
    assert at.expander[0].markdown[0].value.startswith("- bad.mid: ")
    import shutil

    shutil.rmtree(tmp_path / "built")  # pruned by newer builds of other sessions
    at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.sidebar.warning] == [
        "The index built from your files was removed to make room for newer ones (this server keeps the 4 newest "
        "builds); build it again from the files."]


def test_uploaded_files_already_indexed_are_opened_not_built_again(index_home, tmp_path):
    from midi_rae.dashboard import index_model
    from midi_rae.dashboard.corpus_page import build_offer
    from midi_rae.dashboard.sidebar import DEFAULT_CHOICE

    small, keys = index_home / "small", index_model.content_keys(DEFAULT_CHOICE)
    assert build_offer(tmp_path / "never_built", None, keys) == "build"
    assert build_offer(small, None, keys) == "open"  # built by this server before, with the same model
    assert build_offer(small, str(small), keys) == "shown"  # the index on the page: no button for it
    assert build_offer(small, None, ("another model's key",)) == "build"


FIND_SIMILAR_SCRIPT = """
import streamlit as st
from midi_rae.dashboard import model_views
from midi_rae.dashboard.corpus_similar import CK, render_find_similar
from midi_rae.dashboard.sidebar import DEFAULT_CHOICE, Piece
from midi_rae.dashboard.sources import digest, load_roll
from midi_rae.dashboard.loaders import analyse
from midi_rae.inference import MaskSettings
from pathlib import Path

st.session_state[CK.CURRENT] = INDEX
data = Path(QUERY).read_bytes()
piece = Piece(data, digest(data), "query.mid")
model = model_views.loaded(DEFAULT_CHOICE)
roll = load_roll(piece.key, data, 4, 0, piece.name)
song = model_views.song_for(model, piece, roll, 4, 0)
res = analyse(piece.key, model.key, 4, 0, 32, MaskSettings(), roll, model.bundle)
render_find_similar(song, res, SELECTED, model)
"""


def test_find_similar_from_the_piece_view(index_home, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    query = _write(tmp_path / "q.mid", [(_notes(2, seed=50), 0, 0), (_notes(10, seed=1, low=47), 8, 0)])
    script = (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(index_home / "small")))
              .replace("QUERY", repr(str(query))).replace("SELECTED", "None"))
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    at.button(key="corpus_find_similar").click().run()
    assert not at.exception, at.exception
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert len(cards) == 4 and len(at.get("image")) == 4  # one passage per piece (their 3 windows overlap)
    assert cards[0] == "**1.000** · alpha/**piece_<wbr>1**  \nbars 1–8 · B2–A#4"  # a long name wraps after its "_"
    # a player on request
    at.button(key=[b.key for b in at.button if b.label == "▶ Listen"][0]).click().run()
    assert len(at.get("audio")) == 1
    # the selected patch at its level
    script = script.replace("render_find_similar(song, res, None, model)",
                            "from midi_rae.dashboard.clicks import Selected\n"
                            "render_find_similar(song, res, Selected(2, 32, 5), model)")
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    at.button(key="corpus_find_similar").click().run()
    assert not at.exception, at.exception
    assert any("Selected patch: level 2, bars 5–6, G#1–D#4" in m.value for m in at.markdown)  # row 1, column 1
    assert any(c.value.startswith("Nearest to the patch at bars 5–6, G#1–D#4 of the window bars 3–10") for c in
               at.caption), [c.value for c in at.caption]


def _level_4_patch_script(index: Path, tmp_path: Path, monkeypatch, patch: int) -> str:
    """Find similar on a 10-bar query whose level-4 patch `patch` of the window from step 32 is selected."""
    monkeypatch.chdir(ROOT)
    query = _write(tmp_path / "q.mid", [(_notes(10, seed=1, low=47), 0, 0)])
    return (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(index))).replace("QUERY", repr(str(query)))
            .replace("SELECTED", f"__import__('midi_rae.dashboard.clicks').dashboard.clicks.Selected(4, 32, {patch})"))


def test_a_patch_at_a_level_the_index_does_not_store_searches_the_stored_patch_that_holds_it(
        index_home, monkeypatch, tmp_path):
    # level 4 (16×16) patch 85: row 5, column 5, inside level 2's (4×4) row 1, column 1
    at = AppTest.from_string(_level_4_patch_script(index_home / "small", tmp_path, monkeypatch, 85),
                             default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert any(c.value == "Level 4's patches are not in this index (it stores those of levels 1, 2): the search "
               "compares the level-2 patch that holds the selected one." for c in at.caption), \
        [c.value for c in at.caption]
    assert any("Selected patch: level 2, bars 5–6, G#1–D#4" in m.value for m in at.markdown), \
        [m.value for m in at.markdown]
    at.button(key="corpus_find_similar").click().run()
    assert not at.exception, at.exception
    [said] = [c.value for c in at.caption if c.value.startswith("Nearest to")]
    assert said.startswith("Nearest to the patch at bars 5–6, G#1–D#4 of the window bars 3–10 of query.mid at level 2")
    assert "Select a patch" not in said  # one is selected


def test_a_patch_finer_than_every_stored_level_searches_whole_windows_at_the_level_box_s_level(
        index_home, monkeypatch, tmp_path):
    from midi_rae import load_model, threads
    from midi_rae.dashboard.corpus_similar import CK
    from midi_rae.index import build_index

    threads.configure()
    only_5 = tmp_path / "only_5"  # an index of level 5's patches alone: finer than level 4
    build_index([index_home.parent / "src"], only_5, bundle=load_model(), compile=False, progress=False,
                log=lambda s: None, patch_levels=[5], reconstruction=False)
    at = AppTest.from_string(_level_4_patch_script(only_5, tmp_path, monkeypatch, 85), default_timeout=TIMEOUT)
    at.session_state[CK.SIMILAR_LEVEL] = 2  # chosen in the Level box before the patch was selected
    at.run()
    assert not at.exception, at.exception
    assert any(c.value == "Level 4's patches are not in this index (it stores those of levels 5): the search "
               "compares whole windows instead, at the level chosen below." for c in at.caption), \
        [c.value for c in at.caption]
    assert at.selectbox(key=CK.SIMILAR_LEVEL).value == 2


def test_find_similar_leaves_out_the_shown_passage_when_the_piece_is_in_the_corpus(index_home, monkeypatch):
    monkeypatch.chdir(ROOT)
    query = index_home.parent / "src" / "alpha" / "piece_1.mid"
    script = (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(index_home / "small")))
              .replace("QUERY", repr(str(query))).replace("SELECTED", "None"))
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    at.button(key="corpus_find_similar").click().run()
    assert not at.exception, at.exception
    cards = [m.value for m in at.markdown if "bars" in m.value]
    # every window of the 10-bar piece_1 overlaps the shown one (bars 3-10) by more than half
    assert len(cards) == 3 and not any("piece_<wbr>1" in c for c in cards), cards
    assert any("This piece is in the index (the same file): its own window there, which would match at 1.000, is "
               "left out." in c.value for c in at.caption)


def test_a_search_in_any_transposition_from_a_transposed_piece_in_the_corpus_leaves_out_its_own_passage(
        index_home, monkeypatch):
    from midi_rae.dashboard.corpus_similar import CK

    monkeypatch.chdir(ROOT)
    query = index_home.parent / "src" / "alpha" / "piece_1.mid"
    script = (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(index_home / "small")))
              .replace("QUERY", repr(str(query))).replace("SELECTED", "None").replace(", 4, 0", ", 4, 3"))
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.session_state[CK.SIMILAR_TRANSPOSE] = True
    at.run()
    at.button(key="corpus_find_similar").click().run()
    assert not at.exception, at.exception
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert cards and not any("piece_<wbr>1" in c for c in cards), cards  # it had topped the list at 1.000, −3 semitones
    assert any(c.value.startswith("Nearest to the window bars 3–10 of query.mid transposed +3 semitones at level 3")
               for c in at.caption), [c.value for c in at.caption]


def test_find_similars_results_stay_listed_when_the_window_moves_until_the_next_search(index_home, monkeypatch,
                                                                                       tmp_path):
    monkeypatch.chdir(ROOT)
    query = _write(tmp_path / "q.mid", [(_notes(16, seed=1, low=47), 0, 0)])
    script = (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(index_home / "small")))
              .replace("QUERY", repr(str(query))).replace("SELECTED", "None")
              .replace("32, MaskSettings()", "st.session_state.get('start', 32), MaskSettings()"))
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    at.button(key="corpus_find_similar").click().run()
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert cards
    at.session_state["start"] = 64  # the window moved (or a result was opened): no search from there yet
    at.run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown if "bars" in m.value] == cards
    assert ("The last search's results: nearest to the window bars 3–10 of query.mid at level 3. Press *Find "
            "similar* to search from the window shown now." in [c.value for c in at.caption]), \
        [c.value for c in at.caption]
    at.button(key="corpus_find_similar").click().run()
    assert any(c.value.startswith("Nearest to the window bars 5–12 of query.mid") for c in at.caption)


def test_the_window_columns_join_each_read_window_to_its_piece_as_a_pandas_merge_would(index_home):
    from midi_rae.dashboard import corpus_sources as src

    uri = str(index_home / "small")
    v = src.view(uri, src.stamp(uri))
    pieces, win = src.tables(uri, src.stamp(uri))
    expected = v.windows.merge(v.pieces()[["piece_id", "name", "collection", "metre", "tempo_bpm"]], on="piece_id")
    for name in ["piece_id", "window", "start_step", "name", "collection", "metre", "tempo_bpm", "f1"]:
        assert win[name].tolist() == expected[name].tolist(), name
    assert (win["end_step"] == np.minimum(win["start_step"] + 128, win["steps"])).all()


def test_the_map_reads_the_same_columns_as_the_tables_without_pandas(index_home):
    import subprocess
    import sys

    from midi_rae.dashboard import corpus_sources as src

    uri = str(index_home / "small")
    stamp = src.stamp(uri)
    cols, (pieces, win) = src.map_columns(uri, stamp), src.tables(uri, stamp)
    for name in ["piece_id", "window", "start_bar", "end_step", "name", "collection", "path", "f1", "f1_masked",
                 "density", "position"]:
        assert cols[name].tolist() == win[name].tolist(), name
    assert src.summary(uri, stamp) == (len(pieces), 2)
    code = ("import sys\nfrom midi_rae.dashboard import corpus_sources as src\nsys.modules['pandas'] = None\n"
            f"uri = {uri!r}\ns = src.stamp(uri)\n"
            "print(len(src.map_columns(uri, s)['piece_id']), src.summary(uri, s), src.level_vectors(uri, s, 1).shape[0],"
            " src.view(uri, s).failures())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == f"{len(win)} (4, 2) {len(win)} []"
    assert src.level_vectors(uri, stamp, 1).shape == (len(win), 128)


def test_every_corpus_view_names_a_window_by_its_bars_up_to_its_piece_end():
    from midi_rae.dashboard import corpus_sources as src

    ends = src.passage_end([0, 64, 0], 128, [96, 1000, 300])
    assert ends.tolist() == [96, 192, 128]
    paths = ["a.mid", "b.mid", "c.mid"]
    assert src.spans([0, 64, 0], ends, [16, 16, 12], [4, 4, 4], paths) == ["bars 1–6", "bars 5–12",
                                                                            "bar 1 beat 1 – bar 11 beat 2"]


def test_every_corpus_view_names_a_png_rolls_passage_in_steps_as_search_does():
    from midi_rae.dashboard import corpus_sources as src

    # a PNG roll has no bars: the 4/4 grid the index gave it is assumed, so it is not named
    assert src.spans([48, 0], [176, 96], [16, 16], [4, 4], ["rolls/r.png", "rolls/R.PNG"]) == ["steps 48–175",
                                                                                              "steps 0–95"]
    assert src.window_span(64, 128, 150, 16, 4, "rolls/r.png") == "steps 64–149"


def _searched_in_any_key(tmp_path, monkeypatch, collection: str, pieces: dict[str, int], seed: int) -> AppTest:
    """The Corpus page's search, in any transposition, from the first piece of an index of one melody written at
    each of `pieces`' transpositions (file name: semitones)."""
    melody = _notes(10, seed=seed, low=50)
    for name, semis in pieces.items():
        _write(tmp_path / "src" / collection / name, [(melody, 0, semis)])
    quiet_build([tmp_path / "src"], tmp_path / "idx" / "one")
    at = _corpus_app(tmp_path / "idx", monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    # the first piece by name, as the picker lists them (its values are table rows, whose order the parallel
    # parse decides: a row number picked the other piece in some builds)
    at.selectbox(key="corpus_q_piece").select_index(0)
    at.toggle(key="corpus_q_transpose").set_value(True)
    at.button(key="corpus_search").click().run()
    assert not at.exception, at.exception
    return at


def test_a_hit_found_in_another_key_opens_transposed_into_the_query_key(tmp_path, monkeypatch):
    from midi_rae.dashboard.session import K

    at = _searched_in_any_key(tmp_path, monkeypatch, "a", {"theme.mid": 0, "up_a_third.mid": 4}, seed=7)
    card = next(m.value for m in at.markdown if "up_<wbr>a_<wbr>third" in m.value)
    assert "matched with the query +4 semitones" in card
    from midi_rae.wording import semitones

    assert (semitones(1), semitones(-4)) == ("+1 semitone", "−4 semitones")
    assert any(c.value.startswith("Nearest to the window bars 1–8 of a/theme at level") for c in at.caption)
    [b for b in at.button if b.label == "Open"][0].click().run()
    assert not at.exception, at.exception
    assert at.session_state[K.OPENED_PIECE].name == "up_a_third.mid" and at.session_state[K.TRANSPOSE] == -4


def test_names_in_an_index_reach_the_cards_as_plain_text(tmp_path, monkeypatch):
    at = _searched_in_any_key(tmp_path, monkeypatch, "# Heading",
                              {"![t](http:10) [Sign in](http:10).mid": 0, "plain.mid": 2}, seed=8)
    shown = [m.value for m in at.markdown if m.value.startswith("**1.000**")] + \
        [c.value for c in at.caption if c.value.startswith("Nearest")]
    assert len(shown) == 2 and not any(bad in text for text in shown for bad in ("# Heading", "[", "]", "http:"))


def test_thumbnails_given_one_half_span_are_one_height_whatever_their_range():
    import io

    import numpy as np
    from PIL import Image

    from midi_rae.dashboard.corpus_similar import half_span, thumbnail

    low, wide = np.zeros((128, 128), np.uint8), np.zeros((128, 128), np.uint8)
    low[2, :8] = 1  # a note near the bottom edge
    wide[[40, 90], :8] = 1  # fifty semitones apart
    half = max(half_span(low), half_span(wide))
    heights = {Image.open(io.BytesIO(thumbnail(w, half=half))).height for w in (low, wide)}
    assert len(heights) == 1
    assert Image.open(io.BytesIO(thumbnail(low))).height < heights.pop()  # alone: cropped to its own range


def test_the_search_starts_from_the_first_piece_of_another_index(index_home, tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "home"
    for name in ("first", "second"):
        shutil.copytree(index_home / "small", home / name)
    at = _corpus_app(home, monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.selectbox(key="corpus_q_piece").set_value(3).run()
    assert at.selectbox(key="corpus_q_piece").value == 3
    at.sidebar.selectbox(key="corpus_server_index").set_value(home / "second").run()
    box = at.selectbox(key="corpus_q_piece")
    assert not at.exception and box.index == 0  # the first piece listed


def test_a_bar_past_the_end_of_the_next_piece_picked_becomes_its_last_bar(tmp_path, monkeypatch):
    src = tmp_path / "src"
    _write(src / "a" / "long.mid", [(_notes(20, seed=1), 0, 0)])
    _write(src / "a" / "short.mid", [(_notes(10, seed=2), 0, 0)])
    quiet_build([src], tmp_path / "home" / "idx")
    at = _corpus_app(tmp_path / "home", monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.selectbox(key="corpus_q_piece").select_index(0).run()  # a/long
    at.number_input(key="corpus_q_bar").set_value(11).run()
    at.selectbox(key="corpus_q_piece").select_index(1).run()  # a/short: 10 bars, its last 8-bar window from bar 3
    assert not at.exception, at.exception
    assert at.number_input(key="corpus_q_bar").value == 3


def test_a_bar_typed_past_the_last_window_start_is_that_start_and_the_page_says_so(tmp_path, monkeypatch):
    src = tmp_path / "src"
    _write(src / "a" / "short.mid", [(_notes(10, seed=2), 0, 0)])  # 10 bars: 8-bar windows from bars 1 to 3
    quiet_build([src], tmp_path / "home" / "idx")
    at = _corpus_app(tmp_path / "home", monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.number_input(key="corpus_q_bar").set_value(40).run()
    assert not at.exception and at.number_input(key="corpus_q_bar").value == 3
    cut = ("The last window of short starts at bar 3 (a window from a later bar would hold bars of silence): bar 3 "
           "is searched.")
    assert cut in [c.value for c in at.caption]
    at.button(key="corpus_search").click().run()
    assert any(c.value.startswith("Nearest to the window bars 3–10 ") for c in at.caption), [c.value for c in at.caption]
    assert cut in [c.value for c in at.caption]  # still, beside the results
    at.number_input(key="corpus_q_bar").set_value(2).run()
    assert not any("is searched" in c.value for c in at.caption)
    at.number_input(key="corpus_q_bar").set_value(-5).run()
    assert at.number_input(key="corpus_q_bar").value == 1
    assert "Bars are counted from 1: bar 1 is searched." in [c.value for c in at.caption]


def test_the_search_lists_the_pieces_by_name(index_home, monkeypatch):
    at = _corpus_app(index_home, monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    assert at.selectbox(key="corpus_q_piece").options == ["alpha/piece_0", "alpha/piece_1", "beta/piece_2",
                                                          "beta/piece_3"]


def test_uploaded_files_are_indexed_with_the_piece_pages_model_in_a_folder_of_its_own(tmp_path, monkeypatch):
    import streamlit as st

    from midi_rae.dashboard import corpus_page
    from midi_rae.dashboard.session import K
    from midi_rae.dashboard.sidebar import DEFAULT_CHOICE, _chosen

    monkeypatch.setattr(corpus_page, "cache_dir", lambda: tmp_path)
    st.session_state.clear()
    model, keys, out = corpus_page.build_target("abc")
    assert model.key == DEFAULT_CHOICE.key and out == tmp_path / "uploads" / "abc" / "index"
    first = _chosen("Shipped first", None)
    st.session_state[K.LAST_GOOD_CHECKPOINT] = first  # a researcher's model in use on the piece page
    model, keys, out = corpus_page.build_target("abc")
    assert model is first and keys and out == tmp_path / "uploads" / "abc" / f"index-{keys[0][:16]}"
    st.session_state.clear()


def test_the_build_uploader_states_one_size_limit(tmp_path, monkeypatch):
    from midi_rae.dashboard.uploads import MAX_UPLOAD_BYTES

    at = _build_page(tmp_path, monkeypatch)
    uploader = next(u for u in at.get("file_uploader") if u.proto.label.startswith("MIDI files"))
    assert uploader.proto.max_upload_size_mb == MAX_UPLOAD_BYTES // 2 ** 20 == 50
    assert "50 MB" in uploader.proto.label


@pytest.fixture(scope="module")
def other_model_index(tmp_path_factory):
    """An index built with a checkpoint of the shipped architecture but other (random) weights, kept in a server
    checkpoint folder; two pieces hold one passage (bars 1-8 of copy_a, bars 3-10 of copy_b)."""
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models, save_checkpoint
    from midi_rae.index import build_index

    home = tmp_path_factory.mktemp("other_model")
    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    ckpt = save_checkpoint(home / "ckpts" / "random_weights.safetensors", enc.eval(), dec.eval(), DEFAULT_CONFIG,
                           {"threshold": 0.5})
    passage = _notes(8, seed=77)
    _write(home / "src" / "one" / "copy_a.mid", [(passage, 0, 0), (_notes(2, seed=78), 32, 0)])
    _write(home / "src" / "two" / "copy_b.mid", [(_notes(2, seed=79), 0, 0), (passage, 8, 0)])
    build_index([home / "src"], home / "idx" / "other", str(ckpt), compile=False, progress=False, log=lambda s: None)
    return home


def test_the_corpus_search_encodes_the_query_with_the_model_that_built_the_index(other_model_index, monkeypatch):
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(other_model_index / "ckpts"))
    at = _corpus_app(other_model_index / "idx", monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.selectbox(key="corpus_q_piece").set_value(0)  # one/copy_a, bar 1: its passage is copy_b's bars 3-10
    at.button(key="corpus_search").click().run()
    assert not at.exception, at.exception
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert cards[0].startswith("**1.000** · two/**copy") and "bars 3–10" in cards[0], cards


def test_the_corpus_search_of_an_index_whose_model_is_gone_says_so(tmp_path, monkeypatch):
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models, save_checkpoint
    from midi_rae.index import build_index

    enc, _ = build_models(DEFAULT_CONFIG, None)
    ckpt = save_checkpoint(tmp_path / "gone.safetensors", enc.eval(), None, DEFAULT_CONFIG, {"threshold": 0.5})
    _write(tmp_path / "src" / "one" / "piece.mid", [(_notes(10, seed=80), 0, 0)])
    build_index([tmp_path / "src"], tmp_path / "idx" / "other", str(ckpt), compile=False, progress=False,
                log=lambda s: None)
    ckpt.unlink()  # moved away since
    at = _corpus_app(tmp_path / "idx", monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.button(key="corpus_search").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "This index was built with gone.safetensors, which this server does not have (it is not shipped, not in the "
        "server's checkpoint folder and not dropped in this session): drop that checkpoint on the Piece page, or put "
        "it in the checkpoint folder, to search the index with the model that made it."]
    assert not [m.value for m in at.markdown if "bars" in m.value]


def test_a_passage_shown_with_another_model_than_its_index_says_which_model_built_the_index(other_model_index,
                                                                                          monkeypatch):
    from midi_rae.dashboard.index_model import built_with, shown_with_another
    from midi_rae.dashboard.sidebar import DEFAULT_CHOICE
    from midi_rae.index import CorpusIndex

    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(other_model_index / "ckpts"))
    meta = CorpusIndex(other_model_index / "idx" / "other").meta
    assert shown_with_another("other", meta, DEFAULT_CHOICE) == (
        "This passage was opened from the index *other*, built with **random_weights.safetensors**; the page shows it "
        "with **shipped default**, so its scores are not the ones the index shows. Pick random_weights.safetensors as "
        "the checkpoint to see the passage as the index does.")
    assert shown_with_another("other", meta, built_with(meta)) is None  # shown with the index's own model: nothing


def test_a_passage_whose_index_model_is_not_on_this_server_says_its_scores_are_not_the_index(tmp_path):
    from midi_rae.dashboard.index_model import shown_with_another
    from midi_rae.dashboard.sidebar import DEFAULT_CHOICE

    meta = {"checkpoint_key": "0" * 40, "checkpoint": "/elsewhere/mine.safetensors"}
    assert shown_with_another("idx", meta, DEFAULT_CHOICE) == (
        "This passage was opened from the index *idx*, built with mine.safetensors, which this server does not have: "
        "the page shows it with **shipped default**, so its scores are not the index's.")


def test_find_similar_on_the_piece_page_searches_with_the_model_that_built_the_index(other_model_index,
                                                                                     monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(other_model_index / "ckpts"))
    query = other_model_index / "src" / "two" / "copy_b.mid"
    script = (FIND_SIMILAR_SCRIPT.replace("INDEX", repr(str(other_model_index / "idx" / "other")))
              .replace("QUERY", repr(str(query))).replace("SELECTED", "None"))
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert [c.value for c in at.caption][:2] == [
        "Searches the index *other* (6 windows); the Corpus page picks another.",
        "Searches with the model that built this index (random_weights.safetensors), not shipped default: only its "
        "embeddings are comparable with the index's."]
    at.button(key="corpus_find_similar").click().run()
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert cards[0].startswith("**1.000** · one/**copy") and "bars 1–8" in cards[0], cards


def test_an_index_built_from_dropped_bytes_is_matched_to_the_same_bytes_dropped_again(tmp_path):
    from midi_rae.checkpoint_meta import DEFAULT_CHECKPOINT
    from midi_rae.dashboard.index_model import is_built_with
    from midi_rae.dashboard.sidebar import DEFAULT_CHOICE, ModelChoice
    from midi_rae.index import CorpusIndex, build_index

    data = DEFAULT_CHECKPOINT.read_bytes()
    _write(tmp_path / "src" / "one" / "piece.mid", [(_notes(10, seed=81), 0, 0)])
    build_index([tmp_path / "src"], tmp_path / "idx", data, compile=False, progress=False, log=lambda s: None)
    meta = CorpusIndex(tmp_path / "idx").meta
    assert is_built_with(meta, ModelChoice("upload:x", "dropped.safetensors", data))
    assert is_built_with(meta, DEFAULT_CHOICE)  # the same model, as the shipped file


def test_a_sampled_map_draws_a_window_of_every_collection():
    from midi_rae.dashboard.corpus_map import map_sample

    collections = np.array(["common"] * 9_999 + ["rare"])
    rows = map_sample(collections, 100)
    assert len(rows) == 100 and list(rows) == sorted(set(rows)) and 9_999 in rows
    assert list(map_sample(collections[:50], 100)) == list(range(50))  # few enough: every one


def test_other_pieces_are_grey_on_the_map():
    from midi_rae.dashboard.corpus_map import OTHER, OTHER_COLOUR, map_spec

    spec, _ = map_spec(np.zeros((3, 2)), np.array(["a", OTHER, "b"]), "Piece", True, ["", "", ""],
                       np.arange(3), "t", ("x", "y"))
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == ["a", "b", OTHER] and scale["range"][2] == OTHER_COLOUR


# ---------------------------------------------------------------- a region drawn on the map


def test_a_drag_on_the_map_reports_the_rectangle_drawn_whichever_way_it_was_dragged():
    from midi_rae.dashboard.corpus_map import REGION, region_bounds

    class Drawn:
        selection = {REGION: {"x": [2.5, -1.0], "y": [0.25, 3.0]}}

    class Cleared:
        selection = {REGION: {}}

    class Broken:
        selection = {REGION: {"x": [float("nan"), 1.0], "y": [0.0, 1.0]}}

    assert region_bounds(Drawn()) == (-1.0, 2.5, 0.25, 3.0)
    assert region_bounds(Cleared()) is None and region_bounds(Broken()) is None and region_bounds(None) is None


def test_the_map_draws_a_region_on_a_plain_drag_and_a_kept_region_under_its_points(index_home, monkeypatch):
    from midi_rae.dashboard.corpus_map import FADED, PICK, REGION

    at = _corpus_app(index_home, monkeypatch)
    spec = _map(at)
    params = {p["name"]: p["select"] for p in spec["params"]}
    assert params[REGION]["type"] == "interval" and "[!event.shiftKey]" in params[REGION]["on"]
    assert params[PICK]["on"] == "click[!event.shiftKey]"  # a click still opens a passage
    assert spec["encoding"]["opacity"] == {"value": 0.75}
    at.session_state["corpus_region"] = {(str(index_home / "small"), 3, False): (-1e9, 0.0, -1e9, 1e9)}
    at.run()
    spec = _map(at)
    frame, scatter = spec["layer"]  # the region first: drawn under the points, which keep their clicks
    assert frame["mark"]["type"] == "rect" and frame["data"]["values"] == [{"x": -1e9, "x2": 0.0, "y": -1e9,
                                                                           "y2": 1e9}]
    assert scatter["encoding"]["opacity"] == {"condition": {"test": "datum.inside", "value": 0.75}, "value": FADED}
    assert {p["inside"] for p in spec["points"]} == {True, False}
    assert all(p["inside"] == (p["x"] <= 0.0) for p in spec["points"])


def test_a_regions_composition_counts_each_collection_against_the_whole_index():
    from midi_rae.dashboard.corpus_region import composition

    everywhere = np.array(["a"] * 6 + ["b"] * 2 + ["c"] * 2)
    rows = composition(np.array(["a", "b", "b", "a"]), everywhere)
    assert [(r["value"], r["windows"], r["of its windows"]) for r in rows] == [("a", 2, 6), ("b", 2, 2)]
    assert rows[0]["share of the region"] == 0.5 and rows[0]["share of the index"] == 0.6
    assert abs(rows[1]["ratio"] - 0.5 / 0.2) < 1e-12  # b: half the region, a fifth of the index


def test_a_large_collection_missing_from_a_region_is_judged_and_listed_as_absent():
    from midi_rae.dashboard.corpus_region import composition, judged

    everywhere = np.array(["big"] * 335 + ["mid"] * 500 + ["rare"] * 165)
    region = np.array(["big"] * 6 + ["mid"] * 170)  # 176 windows: big would have 59 there at its share
    rows = composition(region, everywhere, absent=True)
    assert [(r["value"], r["windows"]) for r in rows] == [("mid", 170), ("big", 6), ("rare", 0)]
    assert [judged(r) for r in rows] == [True, True, True]  # big: 6 of 59 expected; rare: none of 29
    assert round(rows[1]["ratio"], 2) == 0.10 and rows[2]["ratio"] == 0.0
    assert not judged(composition(np.array(["rare"] * 3), everywhere)[0])  # 3 seen, 0.5 expected


def test_the_most_typical_windows_of_a_region_point_where_most_of_it_points_and_silence_comes_last():
    from midi_rae.dashboard.corpus_region import typical_order

    vectors = np.array([[2, 0], [0, 0], [1, 0], [0, 1], [5, 0]], dtype=np.float32)
    order, cos = typical_order(vectors)  # the mean direction of the four that sound: (3, 1) / 4
    assert list(order) == [0, 2, 4, 3, 1]
    assert np.allclose(cos[:4], [3 / np.sqrt(10)] * 3 + [1 / np.sqrt(10)]) and cos[-1] == -np.inf


def test_a_region_of_the_pca_map_counts_every_window_of_the_index_not_only_those_drawn(index_home, monkeypatch):
    from midi_rae.dashboard import corpus_map
    from midi_rae.dashboard import corpus_sources as src

    uri = str(index_home / "small")
    stamp = src.stamp(uri)
    n = len(src.map_columns(uri, stamp)["path"])
    monkeypatch.setattr(corpus_map, "MAP_POINTS", 3)
    corpus_map._map_coords.clear()
    corpus_map.placed.clear()
    rows, coords, _, _ = corpus_map._map_coords(uri, stamp, 1, False)
    assert len(rows) == 3 < n
    everything = (-1e9, 1e9, -1e9, 1e9)
    inside, placed = corpus_map.region_rows(uri, stamp, 1, False, everything)
    assert list(inside) == list(range(n)) and placed == n
    x0, y0 = coords[0]  # a point-sized region around one drawn window holds that window
    inside, _ = corpus_map.region_rows(uri, stamp, 1, False, (x0 - 1e-6, x0 + 1e-6, y0 - 1e-6, y0 + 1e-6))
    assert rows[0] in inside
    assert len(corpus_map.region_rows(uri, stamp, 1, False, (1e8, 2e8, 1e8, 2e8))[0]) == 0
    corpus_map._map_coords.clear()
    corpus_map.placed.clear()


def _with_region(index_home, monkeypatch, bounds) -> AppTest:
    """The Corpus page of the small index with a region kept for its level-3 PCA map."""
    at = _corpus_app(index_home, monkeypatch)
    at.session_state["corpus_region"] = {(str(index_home / "small"), 3, False): bounds}
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_page_lists_what_a_region_holds_with_its_typical_passages(index_home, monkeypatch):
    from midi_rae.dashboard import corpus_sources as src

    at = _with_region(index_home, monkeypatch, (-1e9, 1e9, -1e9, 1e9))
    uri = str(index_home / "small")
    n = len(src.map_columns(uri, src.stamp(uri))["path"])
    assert any(m.value.startswith(f"**The region: {n} of the {n} windows, from 4 pieces**") for m in at.markdown)
    assert [t.columns[0] for t in page_tables(at)] == ["collection", "piece"]
    assert any("passages most typical of the region" in m.value for m in at.markdown)
    assert sum(b.label == "Open" for b in at.button) >= 2
    assert any(c.value.startswith("In the region, against the whole index: notes per beat") for c in at.caption)


def test_each_level_keeps_its_own_region_until_it_is_cleared(index_home, monkeypatch):
    at = _with_region(index_home, monkeypatch, (-1e9, 1e9, -1e9, 1e9))
    at.select_slider(key="corpus_level").set_value(1).run()
    assert not any(m.value.startswith("**The region") for m in at.markdown) and "layer" not in _map(at)
    at.session_state["corpus_region"][(str(index_home / "small"), 1, False)] = (-1e9, 1e9, -1e9, 0.0)
    at.run()
    assert "layer" in _map(at)  # level 1's own
    at.select_slider(key="corpus_level").set_value(3).run()
    assert _map(at)["layer"][0]["data"]["values"][0]["y2"] == 1e9  # level 3's, kept while level 1 was shown
    at.button(key="corpus_region_clear").click().run()
    assert not at.exception and list(at.session_state["corpus_region"]) == [(str(index_home / "small"), 1, False)]
    assert not any(m.value.startswith("**The region") for m in at.markdown) and "layer" not in _map(at)


def test_the_regions_csv_names_each_window_as_the_corpus_views_do(index_home):
    from midi_rae.dashboard import corpus_sources as src
    from midi_rae.dashboard.corpus_region import region_csv

    uri = str(index_home / "small")
    _, win = src.tables(uri, src.stamp(uri))
    lines = region_csv(win.iloc[:2], 3).splitlines()
    assert lines[0] == "level,collection,piece,file,bars,start_bar,start_step,notes_per_beat,f1,f1_masked"
    first = lines[1].split(",")
    assert first[:3] == ["3", win["collection"].iat[0], win["name"].iat[0]]
    assert not first[3].startswith("/")  # relative to the index folder, not the server's root
    assert (Path(uri) / first[3]).resolve() == Path(win["path"].iat[0]).resolve()
    assert first[4] == src.spans(win["start_step"][:1], win["end_step"][:1], win["steps_per_bar"][:1],
                                 win["steps_per_beat"][:1], win["path"][:1])[0]


def _png_and_midi_windows():
    import pandas as pd

    return pd.DataFrame({"collection": ["rolls", "bach"], "name": ["r", "b"], "rel": [None, None],
                         "path": ["/c/rolls/r.png", "/c/bach/b.mid"], "start_step": [384, 32], "end_step": [512, 160],
                         "steps_per_bar": [16, 16], "steps_per_beat": [4, 4], "start_bar": [25.0, 3.0],
                         "density": [1.0, 2.0], "f1": [0.9, 0.8], "f1_masked": [0.5, 0.4], "metre": ["4/4", "4/4"],
                         "steps": [600, 400]})


def test_the_regions_csv_gives_a_png_rolls_window_steps_and_no_bar():
    from midi_rae.dashboard.corpus_region import region_csv

    lines = region_csv(_png_and_midi_windows(), 2).splitlines()
    assert lines[1].split(",")[4:7] == ["steps 384–511", "", "384"]  # the 4/4 grid the index gave it is not named
    assert lines[2].split(",")[4:7] == ["bars 3–10", "3", "32"]


def test_errors_by_position_in_the_bar_leave_out_png_rolls_whose_bars_are_only_assumed():
    from midi_rae.dashboard.corpus_page import _errors_by_position

    prof = {"err_step": np.ones((2, 128)), "on_step": np.ones((2, 128))}
    fig = _errors_by_position(_png_and_midi_windows(), prof, "4/4", 16)
    assert fig.layout.title.text == "Masked-patch errors by position in the bar (4/4, 1 window)"


def test_an_empty_region_says_so_in_one_sentence(index_home, monkeypatch):
    at = _with_region(index_home, monkeypatch, (1e8, 2e8, 1e8, 2e8))
    assert [i.value for i in at.info] == ["The region drawn on the map holds none of the windows: draw another "
                                          "over some points."]


def test_a_traced_piece_is_drawn_over_the_map_in_the_order_of_its_windows(index_home, monkeypatch):
    from midi_rae.dashboard import corpus_map
    from midi_rae.dashboard import corpus_sources as src

    at = _corpus_app(index_home, monkeypatch)
    picker = next(s for s in at.selectbox if s.label == "Trace a piece")
    assert picker.value == corpus_map.NO_TRACE and picker.options[0] == "(none)"
    win = src.map_columns(str(index_home / "small"), src.stamp(str(index_home / "small")))
    pid = int(win["piece_id"][np.flatnonzero(win["name"] == "piece_2")[0]])
    picker.set_value(str(pid)).run()
    assert not at.exception, at.exception
    spec = _map(at)
    line, scatter, start, end = spec["layer"]  # the path under the points, which keep their clicks
    mine = np.flatnonzero(win["piece_id"] == pid)
    assert len(line["data"]["values"]) == len(mine) > 1
    assert [v["passage"].split(" · ")[0] for v in line["data"]["values"]] == ["beta/piece_2"] * len(mine)
    bars = [int(v["passage"].split(" · ")[1].split()[1].split("–")[0]) for v in line["data"]["values"]]
    assert bars == sorted(bars)  # joined from the piece's start to its end
    assert [start["data"]["values"][0]["label"], end["data"]["values"][0]["label"]] == ["start", "end"]
    halo, word = start["layer"]  # each word over a white halo of itself, readable where it lies on the path
    assert (halo["mark"]["stroke"], halo["mark"]["strokeWidth"]) == ("white", 4)
    assert word["mark"]["color"] == corpus_map.TRACE_COLOUR and halo["mark"]["dy"] == word["mark"]["dy"]
    assert start["data"]["values"][0]["passage"] == line["data"]["values"][0]["passage"]
    assert scatter["encoding"]["opacity"] == {"value": 0.75 * corpus_map.TRACED_FADE}
    assert any(c.value.startswith(f"Traced: beta/piece_2, its {len(mine)} windows joined from start to end")
               for c in at.caption), [c.value for c in at.caption]


def _visitor_of(home: Path, name: str):
    """A piece of the small index as "Show this piece on the corpus map" encodes it, and its windows' rows."""
    from types import SimpleNamespace

    from midi_rae.checkpoint import load_model
    from midi_rae.dashboard import corpus_sources as src
    from midi_rae.dashboard.corpus_similar import visitor
    from midi_rae.pianoroll import midi_to_roll

    uri = str(home / "small")
    win = src.map_columns(uri, src.stamp(uri))
    rows = np.flatnonzero(win["name"] == name)
    rows = rows[np.argsort(win["start_step"][rows])]
    roll = midi_to_roll(Path(win["path"][rows[0]]))
    return visitor(uri, SimpleNamespace(roll=roll), load_model(), None), rows


def test_a_piece_shown_on_the_map_from_the_piece_view_is_pooled_as_the_index_pools(index_home):
    from midi_rae.dashboard import corpus_sources as src

    guest, rows = _visitor_of(index_home, "piece_1")
    uri = str(index_home / "small")
    assert len(guest.starts) == len(rows)
    for level in range(len(guest.vectors)):  # the same file: every window on its own point in the index
        assert np.allclose(guest.vectors[level], src.level_vectors(uri, src.stamp(uri), level)[rows], atol=1e-4)


def test_the_piece_views_piece_is_traced_where_its_windows_lie_on_the_map(index_home, monkeypatch):
    from midi_rae.dashboard.corpus_similar import CK, VISITOR_ROW

    guest, rows = _visitor_of(index_home, "piece_1")
    at = _corpus_app(index_home, monkeypatch)
    at.session_state[CK.VISITOR] = {guest.uri: guest}
    at.run()
    picker = next(s for s in at.selectbox if s.label == "Trace a piece")
    assert picker.options[1] == "piece_1, 4 steps per beat (placed from the piece view)"
    picker.set_value(VISITOR_ROW).run()
    assert not at.exception, at.exception
    spec = _map(at)
    drawn = {p["row"]: (p["x"], p["y"]) for p in spec["points"]}
    line = spec["layer"][0]["data"]["values"]
    assert np.allclose([(v["x"], v["y"]) for v in line], [drawn[r] for r in rows], atol=1e-3)
    assert any(c.value.startswith(f"Traced: {guest.label}, its {len(rows)} windows encoded") for c in at.caption)


def test_pieces_of_one_name_in_a_collection_are_told_apart_in_the_trace_picker():
    from midi_rae.dashboard.corpus_map import piece_labels

    win = {"piece_id": np.array([7, 7, 9, 11]), "collection": np.array(["folk", "folk", "folk", "bach"]),
           "name": np.array(["air", "air", "air", "air"]),
           "rel": np.array(["src/folk/a/air.mid", "src/folk/a/air.mid", "src/folk/b/air.mid", "src/bach/air.mid"]),
           "path": np.array(["", "", "", ""])}
    assert piece_labels(win) == {"7": "folk/air (src/folk/a/air.mid)", "9": "folk/air (src/folk/b/air.mid)",
                                 "11": "bach/air"}


def test_a_region_drawn_past_the_points_is_cut_to_their_extent():
    from midi_rae.dashboard.corpus_map import within

    coords = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 1.0]], dtype=np.float32)
    assert within((-50.0, 1.5, 0.5, 40.0), coords) == (0.0, 1.5, 0.5, 3.0)


def test_a_piece_placed_on_another_indexs_map_is_not_offered_on_this_one(index_home, monkeypatch):
    from midi_rae.dashboard import corpus_map
    from midi_rae.dashboard.corpus_similar import CK

    guest, _ = _visitor_of(index_home, "piece_1")
    at = _corpus_app(index_home, monkeypatch)
    at.session_state[CK.VISITOR] = {"/elsewhere/other_index": guest}
    at.run()
    assert not at.exception, at.exception
    picker = next(s for s in at.selectbox if s.label == "Trace a piece")
    assert picker.value == corpus_map.NO_TRACE and not any("placed from the piece view" in o for o in picker.options)


def test_a_legend_of_many_collections_is_set_in_columns_that_fit_the_map():
    from midi_rae.dashboard.corpus_map import LEGEND_ROWS, map_spec

    names = np.array([f"c{i:02d}" for i in range(LEGEND_ROWS + 9)])
    spec, _ = map_spec(np.zeros((len(names), 2)), names, "Collection", True, [""] * len(names),
                       np.arange(len(names)), "t", ("x", "y"))
    assert spec["encoding"]["color"]["legend"]["columns"] == 2
    spec, _ = map_spec(np.zeros((3, 2)), names[:3], "Collection", True, [""] * 3, np.arange(3), "t", ("x", "y"))
    assert spec["encoding"]["color"]["legend"]["columns"] == 1


def test_under_a_dark_theme_the_maps_black_collection_is_drawn_light_grey():
    from midi_rae.dashboard.corpus_map import map_spec

    names = np.array([f"c{i}" for i in range(8)])  # the eighth takes Okabe & Ito's black
    args = (np.zeros((8, 2)), names, "Collection", True, [""] * 8, np.arange(8), "t", ("x", "y"))
    light, _ = map_spec(*args)
    dark, _ = map_spec(*args, dark=True)
    assert light["encoding"]["color"]["scale"]["range"][7] == "#000000"
    assert dark["encoding"]["color"]["scale"]["range"][7] == "#b2b2b2"


def test_the_page_follows_an_index_updated_while_the_server_runs(tmp_path, monkeypatch):
    src, home = tmp_path / "src", tmp_path / "indexes"
    for i in range(2):
        _write(src / "alpha" / f"piece_{i}.mid", [(_notes(10, seed=i), 0, 0)])
    quiet_build([src], home / "grows")
    at = _corpus_app(home, monkeypatch)
    assert "2 pieces in 1 collection" in at.caption[0].value
    _write(src / "beta" / "piece_2.mid", [(_notes(10, seed=2), 0, 0)])
    at.session_state["corpus_region"] = {(str(home / "grows"), 3, False): (-1e9, 1e9, -1e9, 1e9)}
    at.run()
    assert list(at.session_state["corpus_region"]) == [(str(home / "grows"), 3, False)]
    quiet_build([src], home / "grows")  # `midi-rae index` run again beside the server: one piece added
    at.run()
    assert not at.exception, at.exception
    assert "3 pieces in 2 collections" in at.caption[0].value
    assert at.session_state["corpus_region"] == {}  # drawn on the old index's plane: gone with it
    assert not [w.value for w in at.warning if "not a readable index" in w.value]
    assert {p["value"] for p in _map(at)["points"]} == {"alpha", "beta"}


def test_colour_by_piece_tells_apart_files_of_one_name_in_two_collections(tmp_path, monkeypatch):
    src, home = tmp_path / "src", tmp_path / "indexes"
    for i, album in enumerate(("album_a", "album_b")):
        _write(src / album / "01.mid", [(_notes(10, seed=i, low=45 + 5 * i), 0, 0)])
    quiet_build([src], home / "albums")
    at = _corpus_app(home, monkeypatch)
    at.selectbox(key="corpus_color").set_value("Piece").run()
    assert not at.exception, at.exception
    spec = _map(at)
    assert spec["encoding"]["color"]["scale"]["domain"] == ["album_a/01", "album_b/01"]
    assert {p["value"] for p in spec["points"]} == {"album_a/01", "album_b/01"}


def test_the_corpus_search_of_a_piece_whose_file_is_gone_starts_from_its_stored_window(tmp_path, monkeypatch):
    import shutil

    src, home = tmp_path / "src", tmp_path / "indexes"
    for i in range(3):
        _write(src / "alpha" / f"piece_{i}.mid", [(_notes(10, seed=i, low=45 + 2 * i), 0, 0)])
    quiet_build([src], home / "moved")
    with_files = _corpus_app(home, monkeypatch)
    with_files.session_state["corpus_tab"] = "Search the corpus"
    with_files.run()
    with_files.button(key="corpus_search").click().run()
    shutil.rmtree(src)  # the index copied to a server without its MIDI files
    gone = _corpus_app(home, monkeypatch)
    gone.session_state["corpus_tab"] = "Search the corpus"
    gone.run()
    gone.button(key="corpus_search").click().run()
    assert not gone.exception and not gone.error, (gone.exception, [e.value for e in gone.error])
    assert any("is not reachable from this server, so the search starts from the index's own image of its window."
               in c.value for c in gone.caption)

    def hits(at):
        return [m.value for m in at.markdown if "bars" in m.value]

    assert hits(gone) == hits(with_files) and len(hits(gone)) == 2  # the window at bar 1 is stored: the same search


def test_the_f1_against_density_chart_says_when_it_draws_a_sample():
    import pandas as pd

    from midi_rae.dashboard.corpus_page import MAP_POINTS, _f1_density

    n = MAP_POINTS + 10
    win = pd.DataFrame({"density": np.linspace(0, 4, n), "f1_masked": [np.nan] * 5 + [0.5] * (n - 5),
                        "collection": "c", "name": "p", "start_step": 0, "end_step": 128, "steps_per_bar": 16,
                        "steps_per_beat": 4, "path": "c/p.mid"})
    assert _f1_density(win).layout.title.text == (f"Masked F1 against note density ({MAP_POINTS:,} of the "
                                                  f"{n - 5:,} scored windows drawn)")
    assert _f1_density(win.iloc[:50]).layout.title.text == "Masked F1 against note density"


def test_the_corpus_search_leaves_out_identical_copies_of_the_query_file(tmp_path, monkeypatch):
    import shutil

    src, home = tmp_path / "src", tmp_path / "indexes"
    for i in range(3):
        _write(src / "alpha" / f"piece_{i}.mid", [(_notes(10, seed=i, low=45 + 2 * i), 0, 0)])
    shutil.copy(src / "alpha" / "piece_0.mid", src / "alpha" / "piece_0_copy.mid")
    quiet_build([src], home / "copies")
    at = _corpus_app(home, monkeypatch)
    at.session_state["corpus_tab"] = "Search the corpus"
    at.run()
    at.selectbox(key="corpus_q_piece").select(at.selectbox(key="corpus_q_piece").options[0]).run()
    at.button(key="corpus_search").click().run()
    assert not at.exception, at.exception
    query = at.selectbox(key="corpus_q_piece").format_func(at.selectbox(key="corpus_q_piece").value)
    assert query == "alpha/piece_0"
    cards = [m.value for m in at.markdown if "bars" in m.value]
    assert cards and not any("piece_0" in c for c in cards), cards
    assert any("The same window of 1 identical copy of the file in the index is left out, as its own is." in c.value
               for c in at.caption)


def test_a_card_name_wraps_between_words_not_inside_one():
    from midi_rae.dashboard.corpus_similar import breakable

    assert breakable("ryansMammoth") == "ryans<wbr>Mammoth" and breakable("EclipseHornpipe") == "Eclipse<wbr>Hornpipe"
    assert breakable("bwv10.7_x-y") == "bwv10.<wbr>7_<wbr>x-<wbr>y" and breakable("UPPER") == "UPPER"


def test_a_passage_of_an_index_read_with_the_sustain_pedal_opens_with_the_pedal_applied(tmp_path, monkeypatch):
    from midi_rae.dashboard.session import K
    from midi_rae.index import build_index

    src, home = tmp_path / "src", tmp_path / "indexes"
    for i in range(2):
        _write(src / "alpha" / f"piece_{i}.mid", [(_notes(10, seed=i), 0, 0)])
    build_index([src], home / "pedalled", compile=False, progress=False, log=lambda s: None, sustain_pedal=True)
    at = _corpus_app(home, monkeypatch)
    at.session_state["corpus_tab"] = "Reconstruction"
    at.run()
    [b for b in at.button if b.label == "Open"][0].click().run()
    assert not at.exception, at.exception
    assert at.session_state[K.SUSTAIN] is True


@needs_fixtures()
def test_an_index_built_with_an_mae_decoder_finds_it_beside_its_encoder_in_the_server_folder(tmp_path, monkeypatch):
    import shutil

    from midi_rae.dashboard.index_model import built_with
    from midi_rae.index import checkpoint_key

    for name in ("SwinEncoder__best.pt", "SwinDecoder__best.pt", "SwinMAEDecoder__best.pt"):
        shutil.copy(FIXTURES / "six-level" / name, tmp_path / name)
    monkeypatch.setenv("MIDI_RAE_CHECKPOINTS", str(tmp_path))
    meta = {"checkpoint": "/gone/SwinEncoder__best.pt",  # the index moved: its checkpoint is known by content only
            "checkpoint_key": checkpoint_key(None, tmp_path / "SwinEncoder__best.pt",
                                             tmp_path / "SwinMAEDecoder__best.pt")}
    found = built_with(meta)
    assert found is not None and Path(found.decoder).name == "SwinMAEDecoder__best.pt"


def test_the_maps_zoom_is_read_from_what_the_browser_reported_and_a_fresh_chart_says_nothing_of_it():
    from midi_rae.dashboard.corpus_map import PICK, REGION, ZOOM, reported_zoom

    class Zoomed:
        selection = {ZOOM: {"x": [-2.5, 1], "y": [0, 3.25]}}

    class Reset:  # a double-click on this chart: the browser reports the zoom, and only the zoom, empty
        selection = {ZOOM: {}}

    class Fresh:  # a chart just drawn: Streamlit gives every parameter, empty
        selection = {PICK: {}, REGION: {}, ZOOM: {}}

    class Regioned:  # a region drawn, the zoom not touched on this chart
        selection = {REGION: {"x": [0, 1], "y": [0, 1]}}

    assert reported_zoom(Zoomed()) == {"x": [-2.5, 1.0], "y": [0.0, 3.25]}
    assert reported_zoom(Reset()) == {}
    assert reported_zoom(Fresh()) is None and reported_zoom(Regioned()) is None and reported_zoom(None) is None


def test_a_map_drawn_again_after_a_region_opens_at_the_zoom_its_plane_had(index_home, monkeypatch):
    from midi_rae.dashboard.corpus_map import ZOOM

    at = _corpus_app(index_home, monkeypatch)
    assert "value" not in {p["name"]: p for p in _map(at)["params"]}[ZOOM]
    plane = (str(index_home / "small"), 3, False)
    extent = {"x": [-0.5, 0.25], "y": [-1.0, 1.0]}
    at.session_state["corpus_zoom"] = {plane: extent}  # as the chart reported it
    at.session_state["corpus_region"] = {plane: (-1e9, 0.0, -1e9, 1e9)}  # the region drawn, which bumps the key
    at.session_state["corpus_map_nonce"] = at.session_state["corpus_map_nonce"] + 1
    at.run()
    assert not at.exception, at.exception
    spec = _map(at)
    assert {p["name"]: p for p in spec["layer"][-1]["params"]}[ZOOM]["value"] == extent
    at.select_slider(key="corpus_level").set_value(1).run()  # another plane: its own zoom, none yet
    assert "value" not in {p["name"]: p for p in _map(at)["params"]}[ZOOM]


def test_a_traced_pieces_start_and_end_are_labelled_on_the_sides_away_from_each_other():
    from midi_rae.dashboard.corpus_map import map_spec

    def offsets(trace):
        spec, _ = map_spec(np.zeros((2, 2)), np.array(["a", "b"]), "Collection", True, ["", ""], np.arange(2), "t",
                           ("x", "y"), trace=trace)
        return {layer["data"]["values"][0]["label"]: layer["layer"][1]["mark"]["dy"] for layer in spec["layer"]
                if "layer" in layer and layer["layer"][1]["mark"]["type"] == "text"}

    rising = [{"x": 0.0, "y": 0.0, "passage": "p"}, {"x": 0.1, "y": 0.2, "passage": "p"}]
    assert offsets(rising) == {"start": 16, "end": -12}  # the end is higher: its label above it, the start's below
    assert offsets(rising[::-1]) == {"start": -12, "end": 16}
    assert offsets(rising[:1]) == {"start": -12}


def test_a_map_of_one_collection_is_coloured_by_piece_at_first(index_home, monkeypatch):
    from midi_rae.dashboard import corpus_map

    real = corpus_map.src.map_columns

    def one_collection(uri, stamp):  # as an index built from uploads is: every piece in "uploaded"
        cols = {k: v.copy() for k, v in real(uri, stamp).items()}
        cols["collection"] = np.full(len(cols["collection"]), "uploaded", dtype=object)
        return cols

    monkeypatch.setattr(corpus_map.src, "map_columns", one_collection)
    at = _corpus_app(index_home, monkeypatch)
    assert not at.exception and at.selectbox(key="corpus_color").value == "Piece"


def _one_collection_when(flag: dict, real):
    """map_columns as an index built from uploads gives them (every piece in "uploaded") while flag["one"]."""
    def columns(uri, stamp):
        cols = {k: v.copy() for k, v in real(uri, stamp).items()}
        if flag["one"]:
            cols["collection"] = np.full(len(cols["collection"]), "uploaded", dtype=object)
        if flag.get("no_density"):  # an index that cannot be coloured by density
            cols.pop("density")
        return cols
    return columns


def _switching_app(index_home, monkeypatch) -> tuple[AppTest, dict]:
    """The Corpus page on an index whose map columns change with the flags returned (see _one_collection_when), as
    when the page is switched to another index."""
    from midi_rae.dashboard import corpus_map

    flag = {"one": False}
    monkeypatch.setattr(corpus_map.src, "map_columns", _one_collection_when(flag, corpus_map.src.map_columns))
    return _corpus_app(index_home, monkeypatch), flag


def test_a_map_of_one_collection_shown_after_another_index_is_coloured_by_piece(index_home, monkeypatch):
    at, flag = _switching_app(index_home, monkeypatch)
    assert at.selectbox(key="corpus_color").value == "Collection"
    flag["one"] = True  # as an index built from uploads, shown next
    at.run()
    assert not at.exception and at.selectbox(key="corpus_color").value == "Piece"


def test_a_colouring_picked_by_hand_is_kept_for_the_next_index(index_home, monkeypatch):
    at, flag = _switching_app(index_home, monkeypatch)
    at.selectbox(key="corpus_color").set_value("Note density (notes per beat)").run()
    flag["one"] = True
    at.run()
    assert not at.exception and at.selectbox(key="corpus_color").value == "Note density (notes per beat)"


def test_a_colouring_picked_by_hand_comes_back_after_an_index_that_does_not_offer_it(index_home, monkeypatch):
    at, flag = _switching_app(index_home, monkeypatch)
    at.selectbox(key="corpus_color").set_value("Note density (notes per beat)").run()
    flag.update(one=True, no_density=True)
    at.run()
    assert at.selectbox(key="corpus_color").value == "Piece"  # that index's own
    flag.update(one=False, no_density=False)
    at.run()
    assert not at.exception and at.selectbox(key="corpus_color").value == "Note density (notes per beat)"


def test_points_outside_a_region_under_a_traced_piece_stay_as_visible_as_outside_any_region():
    from midi_rae.dashboard.corpus_map import FADED, TRACED_FADE, _opacity

    traced = _opacity(region=True, traced=True)
    assert traced["value"] == FADED == _opacity(region=True, traced=False)["value"]  # it was FADED × 0.4: 0.05
    assert traced["condition"]["value"] == pytest.approx(0.75 * TRACED_FADE)


def test_the_maps_legend_names_long_pieces_by_their_start_and_end_so_they_stay_apart():
    from midi_rae.dashboard.corpus_map import LEGEND_CHARS, legend_labels

    names = [f"beethoven/opus18no1_movement{i}" for i in (1, 2, 3, 4)] + ["bach/bwv1.6"]
    short = legend_labels(names)
    assert short["beethoven/opus18no1_movement1"] == "beethoven/…8no1_movement1"
    assert short["bach/bwv1.6"] == "bach/bwv1.6" and len(set(short.values())) == 5
    assert all(len(s) <= LEGEND_CHARS for s in short.values())
    assert legend_labels(["x" * 20 + "a" + "y" * 20, "x" * 20 + "b" + "y" * 20]) == {  # alike when cut: kept whole
        n: n for n in ["x" * 20 + "a" + "y" * 20, "x" * 20 + "b" + "y" * 20]}


def test_a_card_names_markup_is_escaped_and_only_the_break_points_are_html():
    from midi_rae.dashboard.corpus_similar import breakable

    assert breakable("x&y<b>") == "x&amp;y&lt;b&gt;"  # text, never markup (and no zero-width space to copy)
    assert "\u200b" not in breakable("ryansMammoth_reel")
