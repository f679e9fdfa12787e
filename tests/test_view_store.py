"""The view store: views the piece page drew, kept on disk so that a server's first page need not wait for torch."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from conftest import ROOT, make_song, run_without_torch, to_bytes
from page_summary import page_summary
from midi_rae.checkpoint import DEFAULT_CHECKPOINT, load_model
from midi_rae.dashboard import view_store
from midi_rae.dashboard.song import Song
from midi_rae.inference import MaskSettings, analyse_window, encode_piece
from midi_rae.png_rolls import read_roll

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped checkpoint")

SCRIPT = ROOT / "midi_rae" / "dashboard" / "script.py"
CKPT = "default:1"
LABEL = "shipped default"
SETTINGS = MaskSettings(mask_ratio=0.5, seed=3)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The store turned on, in a folder of this test's own."""
    monkeypatch.setenv("MIDI_RAE_VIEW_STORE", "1")
    monkeypatch.setenv("MIDI_RAE_CACHE", str(tmp_path))
    return tmp_path / "views"


@pytest.fixture(scope="module")
def computed():
    """A 12-bar song's encoding and its second window's analysis by the shipped model, as the page computes them."""
    bundle = load_model(None)
    roll = read_roll(to_bytes(make_song(bars=12, seed=4)), steps_per_beat=4, name="song.mid")
    song = Song(roll=roll, encoding=encode_piece(bundle.encoder, roll), config=bundle.model_config,
                key=("midi-1", CKPT, 4, 0))
    res = analyse_window(bundle, roll, 16, SETTINGS)
    res.key = ("midi-1", CKPT, 4, 0, 16, SETTINGS)
    return song, res


def drawn_page(tmp_path, monkeypatch):
    """The piece page's first run (AppTest) on a folder of one example, its views then written."""
    from streamlit.testing.v1 import AppTest

    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "a_song.mid").write_bytes(to_bytes(make_song(bars=20, seed=1)))
    monkeypatch.setenv("MIDI_RAE_EXAMPLES", str(examples))
    at = AppTest.from_file(str(SCRIPT), default_timeout=180)
    at.run()
    view_store.flush()
    return at


def rewritten(path, **arrays) -> None:
    """Write entry `path` again, with `arrays` in place of (or beside) its own."""
    with np.load(path) as z:
        kept_arrays = dict(z)
    with open(path, "wb") as f:
        np.savez(f, **(kept_arrays | arrays))


def kept(song, res, caption: str = "**Shipped default** · 6 levels", label: str = LABEL) -> None:
    view_store.keep(caption, label, song, res)
    view_store.flush()


def test_a_kept_view_is_found_with_every_array_and_score_as_computed(store, computed):
    song, res = computed
    kept(song, res)
    got = view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS)
    assert got.caption == "**Shipped default** · 6 levels"
    enc = got.encoding
    assert np.array_equal(enc.starts, song.encoding.starts) and enc.hop == song.encoding.hop
    assert enc.stats == song.encoding.stats
    for a, b in zip(enc.level_emb + enc.level_non_empty, song.encoding.level_emb + song.encoding.level_non_empty):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    a = got.analysis
    assert a.start == 16 and a.settings == SETTINGS and a.metrics == res.metrics
    for x, y in zip([a.image, a.mask, a.hidden_px, a.probs] + a.level_non_empty + a.masked_emb,
                    [res.image, res.mask, res.hidden_px, res.probs] + res.level_non_empty + res.masked_emb):
        assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize("other", [dict(start=0), dict(settings=dataclasses.replace(SETTINGS, seed=4)),
                                   dict(settings=dataclasses.replace(SETTINGS, threshold=0.6)),
                                   dict(ckpt="default:2"), dict(label="runs/b.pt"), dict(midi="midi-2"), dict(semis=1),
                                   dict(spb=8)])
def test_a_view_is_found_only_under_the_key_it_was_drawn_for(store, computed, other):
    song, res = computed
    kept(song, res)
    key = dict(ckpt=CKPT, label=LABEL, midi="midi-1", spb=4, semis=0, start=16, settings=SETTINGS) | other
    assert view_store.find(key["ckpt"], key["label"], key["midi"], key["spb"], key["semis"], key["start"],
                           key["settings"]) is None


def test_whether_a_piece_has_any_view_kept_is_known_before_it_is_read(store, computed):
    song, res = computed
    assert not view_store.piece_kept(CKPT, LABEL, ("midi-1",), 4, 0)
    kept(song, res)
    assert view_store.piece_kept(CKPT, LABEL, ("midi-0", "midi-1"), 4, 0)
    assert not view_store.piece_kept(CKPT, LABEL, ("midi-1",), 4, 2)
    assert not view_store.piece_kept(CKPT, "another", ("midi-1",), 4, 0)


def test_a_view_as_computed_fits_its_model_and_one_of_other_shapes_does_not(computed):
    song, res = computed
    bundle_config = song.config
    last = analyse_window(load_model(None), song.roll, int(song.encoding.starts[-1]), SETTINGS)  # padded at the end
    assert view_store.StoredView("", song.encoding, res).fits(bundle_config)
    assert view_store.StoredView("", song.encoding, last).fits(bundle_config)
    cut = dataclasses.replace(res, image=res.image[:5, :7])
    fewer = dataclasses.replace(res, masked_emb=res.masked_emb[:2], level_non_empty=res.level_non_empty[:2])
    narrow = dataclasses.replace(song.encoding, level_emb=song.encoding.level_emb[:3] + [
        song.encoding.level_emb[3][:, :, :5]] + song.encoding.level_emb[4:])
    assert not view_store.StoredView("", song.encoding, cut).fits(bundle_config)
    assert not view_store.StoredView("", song.encoding, fewer).fits(bundle_config)
    assert not view_store.StoredView("", narrow, res).fits(bundle_config)


def test_a_kept_view_that_does_not_fit_its_model_is_removed_and_the_page_computes_it(store, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from midi_rae.dashboard import warmup

    at = drawn_page(tmp_path, monkeypatch)
    computed_page = page_summary(at)
    window = next(store.glob("window-*.npz"))
    with np.load(window) as z:
        image = z["image"]
    rewritten(window, image=image[:5, :7])  # a well-formed entry of the wrong shape
    monkeypatch.setattr(warmup, "pending", lambda stage: True)  # a server still importing torch
    again = AppTest.from_file(str(SCRIPT), default_timeout=180)
    again.run()
    assert page_summary(again) == computed_page
    assert not window.exists()


def test_a_change_to_the_code_that_computes_views_makes_every_kept_one_a_miss(store, computed, monkeypatch):
    song, res = computed
    kept(song, res)
    monkeypatch.setattr(view_store, "FORMAT", view_store.FORMAT + 1)
    view_store._code_digest.cache_clear()
    try:
        assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None
    finally:
        monkeypatch.undo()
        view_store._code_digest.cache_clear()


def test_the_shipped_defaults_views_are_found_only_while_its_file_is_the_same(store, computed, tmp_path, monkeypatch):
    song, res = computed
    ckpt = tmp_path / "default.safetensors"
    ckpt.write_bytes(b"weights")
    monkeypatch.setattr(view_store, "DEFAULT_CHECKPOINT", ckpt)
    kept(dataclasses.replace(song, key=("midi-1", "default", 4, 0)), res)  # the page's key for it is "default"
    assert view_store.find("default", LABEL, "midi-1", 4, 0, 16, SETTINGS) is not None
    ckpt.write_bytes(b"other weights")
    assert view_store.find("default", LABEL, "midi-1", 4, 0, 16, SETTINGS) is None


def test_a_damaged_entry_is_a_miss_and_is_removed(store, computed):
    song, res = computed
    kept(song, res)
    window = next(store.glob("window-*.npz"))
    window.write_bytes(window.read_bytes()[:200])
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None
    assert not window.exists()


class _Plant:
    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_an_entry_holding_a_pickle_is_refused_and_never_unpickled(store, computed, tmp_path):
    song, res = computed
    kept(song, res)
    window = next(store.glob("window-*.npz"))
    plant = _Plant()
    plant.path = str(tmp_path / "planted")
    rewritten(window, metrics=np.array([plant], dtype=object))
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None
    assert not (tmp_path / "planted").exists() and not window.exists()


def test_an_entry_that_would_unpack_larger_than_any_kept_one_is_refused_unread(store, computed, monkeypatch):
    import zipfile

    song, res = computed
    kept(song, res)
    window = next(store.glob("window-*.npz"))
    monkeypatch.setattr(view_store, "MAX_ENTRY_BYTES", 1 << 20)
    with zipfile.ZipFile(window, "a", compression=zipfile.ZIP_DEFLATED) as zf:  # 64 MB of zeros in 64 KB
        zf.writestr("padding.npy", b"\0" * (64 << 20))
    assert window.stat().st_size < (1 << 20)
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None
    assert not window.exists()


@pytest.mark.parametrize("shape", [b"(99999999999999,)", b"(4294967296, 4294967296)"])  # the second wraps int64
def test_an_entry_whose_array_header_declares_more_than_it_holds_is_refused_unread(store, computed, shape):
    song, res = computed
    kept(song, res)
    window = next(store.glob("window-*.npz"))
    rewritten(window)
    data = window.read_bytes()
    at = data.index(b"'shape': (128, 128), }")  # the image's header, padded with spaces to its fixed length
    end = data.index(b"\n", at)
    huge = b"'shape': " + shape + b", }"  # petabytes of pixels, in the same bytes
    huge = huge.ljust(end - at)
    window.write_bytes(data[:at] + huge + data[end:])
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None
    assert not window.exists()


def test_the_store_keeps_its_most_recently_used_entries(store, computed, monkeypatch):
    song, res = computed
    monkeypatch.setattr(view_store, "MAX_ENTRIES", 3)
    kept(song, dataclasses.replace(res, start=0))  # the piece's entry and the window at 0
    os.utime(next(store.glob("window-*.npz")), (0, 0))  # last used long ago
    kept(song, dataclasses.replace(res, start=16))
    kept(song, dataclasses.replace(res, start=32))  # a fourth entry: the least recently used goes
    assert len(list(store.glob("*.npz"))) == 3
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 0, SETTINGS) is None
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is not None
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 32, SETTINGS) is not None


def test_nothing_is_kept_with_the_store_turned_off(store, computed, monkeypatch):
    monkeypatch.setenv("MIDI_RAE_VIEW_STORE", "0")
    kept(*computed)
    assert not store.exists()
    assert view_store.find(CKPT, LABEL, "midi-1", 4, 0, 16, SETTINGS) is None


def test_a_view_too_large_to_keep_is_not_written(store, computed, monkeypatch):
    monkeypatch.setattr(view_store, "MAX_ENTRY_BYTES", 1000)
    kept(*computed)
    assert list(store.glob("*.npz")) == []


PAGE_WITHOUT_TORCH = """
import json, sys, threading
sys.path.insert(0, "tests")
from page_summary import page_summary
from streamlit.testing.v1 import AppTest
from midi_rae.dashboard import warmup
warmup._thread = threading.Thread(target=lambda: None)  # a server whose warm-up is still importing torch
for stage in ("overview", "corpus"):
    warmup._done[stage].set()
at = AppTest.from_file("{script}", default_timeout=120)
at.run()
print(json.dumps(page_summary(at)))
"""


def test_a_servers_first_page_draws_a_view_drawn_before_without_importing_torch(store, tmp_path, monkeypatch):
    at = drawn_page(tmp_path, monkeypatch)
    computed_page = page_summary(at)
    assert computed_page["exceptions"] == [] and len(list(store.glob("*.npz"))) == 2

    out = run_without_torch(PAGE_WITHOUT_TORCH.replace("{script}", str(SCRIPT)))
    assert out.returncode == 0, out.stderr[-3000:]
    drawn = json.loads(out.stdout.strip().splitlines()[-1])
    assert drawn == computed_page
    assert any("finest patches hidden" in c for c in drawn["captions"])
    assert any(label == "F1, masked patches" for label, _ in drawn["metrics"])


def test_the_views_of_a_dropped_piece_are_not_kept(store, tmp_path, monkeypatch):
    """A server's first page never shows a dropped file, so its views would only crowd the store (and keep a
    stranger's music on the server's disk)."""
    at = drawn_page(tmp_path, monkeypatch)
    kept_files = sorted(p.name for p in store.glob("*.npz"))
    at.file_uploader(key="midi_upload").set_value(("mine.mid", to_bytes(make_song(bars=12, seed=9)), "audio/midi"))
    at.run()
    view_store.flush()
    assert not at.exception and any("mine.mid" in c.value for c in at.caption)
    assert sorted(p.name for p in store.glob("*.npz")) == kept_files and len(kept_files) == 2


@pytest.mark.parametrize("imported", [True, False])
def test_after_a_page_drawn_from_the_store_its_model_is_loaded_and_its_piece_encoded_once_torch_is_in(
        monkeypatch, imported):
    from midi_rae.dashboard import model_views, page, warmup

    calls = []
    monkeypatch.setattr(warmup, "wait", lambda stage: calls.append(("wait", stage)))
    monkeypatch.setattr(warmup, "pending", lambda stage: not imported)
    monkeypatch.setattr(model_views, "load", lambda choice: ("model of", choice))
    monkeypatch.setattr(model_views, "song_for", lambda *args: calls.append(("encode",) + args))
    page._load_and_encode_once_imported("choice", "piece", "roll", 4, 0)
    expected = [("wait", "model")] + ([("encode", ("model of", "choice"), "piece", "roll", 4, 0)] if imported else [])
    assert calls == expected
