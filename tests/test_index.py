"""The corpus index: build, incremental update, search (planted and transposed copies), ANN recall, PNG sources,
the CLI, and (slow) a local Ray run."""
from __future__ import annotations

import json
import os
import random
import subprocess
import shutil
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from conftest import ROOT, to_bytes

BEAT = 0.5  # seconds at 120 BPM


def _notes(bars: int, seed: int, low: int = 55) -> list[tuple[int, float, float]]:
    """(pitch, start beat, end beat) of a random two-voice 4/4 passage `bars` long."""
    rng = random.Random(seed)
    out = []
    for b in range(bars):
        for k in range(8):  # eighth-note melody
            out.append((low + 12 + rng.randrange(12), b * 4 + k / 2, b * 4 + (k + 1) / 2))
        out.append((low + rng.randrange(8), b * 4, b * 4 + rng.choice([2, 4])))
    return out


def _write(path: Path, parts: list[tuple[list, float, int]]) -> Path:
    """A 4/4, 120 BPM MIDI file of (notes, offset in beats, transposition) parts."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(0)
    for notes, offset, semis in parts:
        for p, s, e in notes:
            inst.notes.append(pretty_midi.Note(90, p + semis, (s + offset) * BEAT, (e + offset) * BEAT))
    pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def quiet_build(sources: list[Path], out: Path, bundle=None):
    """build_index of `sources` into `out` with the shipped model (or `bundle`), eager, without output."""
    from midi_rae import load_model, threads
    from midi_rae.index import build_index

    threads.configure()
    return build_index(sources, out, bundle=bundle or load_model(), compile=False, progress=False,
                       log=lambda s: None)


@pytest.fixture(scope="module")
def bundle():
    from midi_rae import load_model, threads

    threads.configure()
    return load_model()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus of generated pieces in two collections, a passage P planted in one of them at bar 5 and a copy
    transposed up a fourth (+5) in another at bar 2, a broken file, and a query file (outside the corpus) holding
    P at bar 3."""
    root = tmp_path_factory.mktemp("corpus")
    passage = _notes(8, seed=99)
    src = root / "src"
    for i in range(3):
        _write(src / "alpha" / f"noise_{i}.mid", [(_notes(12, seed=i, low=40 + 3 * i), 0, 0)])
    _write(src / "alpha" / "planted.mid", [(_notes(4, seed=10), 0, 0), (passage, 16, 0), (_notes(4, seed=11), 48, 0)])
    _write(src / "beta" / "transposed.mid", [(_notes(1, seed=12), 0, 0), (passage, 4, 5), (_notes(3, seed=13), 36, 0)])
    _write(src / "beta" / "other.mid", [(_notes(10, seed=20, low=48), 0, 0)])
    (src / "beta" / "broken.mid").write_bytes(b"MThd this is not a midi file")
    query = _write(root / "query.mid", [(_notes(2, seed=30), 0, 0), (passage, 8, 0), (_notes(2, seed=31), 40, 0)])
    return {"root": root, "src": src, "query": query}


@pytest.fixture(scope="module")
def built(corpus, bundle):
    from midi_rae.index import build_index

    out = corpus["root"] / "index"
    report = build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=False, log=lambda s: None)
    return out, report


def test_index_of_generated_pieces(built, bundle):
    from midi_rae.index import CorpusIndex

    out, report = built
    assert report.added == 6 and len(report.failed) == 1
    path, sentence = report.failed[0]
    assert path.endswith("broken.mid") and sentence.endswith(".") and "\n" not in sentence
    idx = CorpusIndex(out)
    pieces = idx.pieces()
    assert sorted(pieces["collection"].unique()) == ["alpha", "beta"]
    row = pieces.set_index("name").loc["planted"]
    assert row["metre"] == "4/4" and row["notes"] > 100 and abs(row["tempo_bpm"] - 120) < 1e-3
    assert row["windows"] == 9 and row["duration_s"] == pytest.approx(64 * BEAT, abs=0.01)
    assert idx.failures() == report.failed
    win = idx.windows()
    assert len(win) == pieces["windows"].sum() == report.windows
    assert win["f1"].between(0, 1).all() and win["f1_masked"].between(0, 1).all()
    assert (win["pitch_lo"] <= win["pitch_hi"]).all() and (win["density"] > 0).all()
    cfg = bundle.model_config
    for k, d in enumerate(cfg.level_dims):
        assert idx.column(f"emb_{k}").shape == (len(win), d)
    # coarse levels' patches: levels of at most 16 patches other than the 1x1 one, float16, non-empty only
    assert idx.patch_levels == [1, 2]
    p2 = idx.table("patches_2").search().limit(None).to_arrow()
    assert str(p2.schema.field("vector").type.value_type) == "halffloat"
    assert 0 < p2.num_rows < 16 * len(win)


def test_index_window_numbers_match_the_piece_page(built, bundle, corpus):
    """A window's masked F1 is the piece page's 'Masked patches' F1 at mask 0.5, seed 0 for that window."""
    from midi_rae.index import CorpusIndex
    from midi_rae.inference import analyse_window, settings_for
    from midi_rae.pianoroll import midi_to_roll

    idx = CorpusIndex(built[0])
    pid = idx.pieces().set_index("name").loc["other", "piece_id"]
    win = idx.windows(where=f"piece_id = {pid}").sort_values("window")
    roll = midi_to_roll(corpus["src"] / "beta" / "other.mid")
    res = analyse_window(bundle, roll, int(win["start_step"].iloc[2]), settings_for(bundle, 0.5, seed=0))
    assert win["f1_masked"].iloc[2] == pytest.approx(res.metrics["masked"]["f1"], abs=1e-4)
    import torch

    from midi_rae.analysis import confusion, scores

    x = torch.from_numpy(res.image.astype(np.float32))[None, None]
    with torch.no_grad():
        pred = torch.sigmoid(bundle.reconstruct(bundle.encoder(x))) > settings_for(bundle).threshold
    assert win["f1"].iloc[2] == pytest.approx(scores(confusion(pred, x > 0.5))["f1"], abs=1e-4)


def test_a_window_repeated_in_its_piece_is_encoded_once_and_stored_as_if_encoded_itself(bundle, tmp_path):
    """A 4-bar phrase played five times: windows a bar apart repeat every 4 bars."""
    from midi_rae.index import WindowEncoder, build_index
    from midi_rae.piece_scores import f1_per_row as _f1
    from midi_rae.inference import piece_windows
    from midi_rae.pianoroll import midi_to_roll

    phrase = _notes(4, seed=5)
    path = _write(tmp_path / "src" / "loop.mid", [(phrase, 16 * k, 0) for k in range(5)])
    report = build_index([path], tmp_path / "index", bundle=bundle, compile=False, progress=False,
                         log=lambda s: None)
    x, _, _ = piece_windows(midi_to_roll(path), bundle.model_config.window_steps)
    distinct = len({w.numpy().tobytes() for w in x})
    assert (report.windows, report.encoded) == (len(x), distinct) and distinct < len(x)

    from midi_rae.index import CorpusIndex

    idx = CorpusIndex(tmp_path / "index")
    win = idx.windows()
    order = np.argsort(win["window"].to_numpy())  # the table's scan order, as idx.column reads it
    win = win.iloc[order]
    every = WindowEncoder(bundle, idx.patch_levels, idx.meta["threshold"])(x)  # each window encoded on its own
    for k in range(idx.levels):
        assert np.allclose(idx.column(f"emb_{k}")[order], every["pooled"][k], atol=1e-5)
    assert np.allclose(win["f1"].to_numpy(), _f1(every["plain"]), atol=1e-6)
    assert np.allclose(win["f1_masked"].to_numpy(), _f1(every["masked"]), atol=1e-6)


def test_encoding_in_worker_processes_stores_what_this_process_stores(built, corpus, bundle, tmp_path):
    """Two encoder processes (batches finishing in any order) store every window's numbers as one process does."""
    from midi_rae.index import CorpusIndex, build_index

    out = tmp_path / "pool"
    report = build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=False, log=lambda s: None,
                         encoders=2, batch_size=4)
    assert report.encoders == 2 and report.windows == built[1].windows
    a, b = CorpusIndex(built[0]), CorpusIndex(out)
    cols = ["piece_id", "window", "f1", "f1_masked", "emb_0", "emb_3", "err_pitch"]
    wa = a.windows(cols).sort_values(["piece_id", "window"]).reset_index(drop=True)
    wb = b.windows(cols).sort_values(["piece_id", "window"]).reset_index(drop=True)
    assert (wa[["piece_id", "window"]] == wb[["piece_id", "window"]]).all().all()
    assert np.allclose(wa["f1_masked"], wb["f1_masked"], atol=1e-6, equal_nan=True)
    assert np.allclose(wa["f1"], wb["f1"], atol=1e-6, equal_nan=True)
    for col in ("emb_0", "emb_3", "err_pitch"):
        assert np.allclose(np.stack(wa[col]), np.stack(wb[col]), atol=1e-4)


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_worker_that_dies_ends_the_run_in_one_sentence_and_a_rerun_resumes(corpus, bundle, tmp_path):
    import os
    import signal

    from midi_rae.index import build_index

    def kill_the_workers(done: int, total: int, name: str) -> None:
        if done == 1:  # the first piece is stored: every worker (and the fork server) goes, as an OOM kill would
            for pid in _descendants(os.getpid()):
                try:
                    if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):  # ended meanwhile
                    pass

    out = tmp_path / "idx"
    with pytest.raises(ValueError, match=r"^A parsing or encoding process ended unexpectedly \(out of memory\?\); "):
        build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=kill_the_workers,
                    log=lambda s: None, encoders=2, jobs=1, batch_size=4)
    report = build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=False, log=lambda s: None)
    assert report.added + report.unchanged + len(report.failed) == 7


def test_a_query_bar_past_the_end_names_the_pieces_length_in_bars(built, corpus, bundle):
    from midi_rae.index import search_passage
    from midi_rae.pianoroll import midi_to_roll

    bars = midi_to_roll(corpus["query"]).bars
    with pytest.raises(ValueError) as e:
        search_passage(built[0], corpus["query"], bar=99, bundle=bundle)
    assert str(e.value) == f"Bar 99 is outside the query piece ({bars:g} bars)." and bars == int(bars)


def test_a_later_run_lists_the_files_that_still_cannot_be_read(corpus, bundle, tmp_path):
    out = tmp_path / "idx"
    quiet_build([corpus["src"] / "beta"], out, bundle)
    again = quiet_build([corpus["src"] / "beta"], out, bundle)
    assert (again.added, again.updated, again.unchanged, again.windows) == (0, 0, 2, 0)
    assert [(Path(p).name, e) for p, e in again.failed] == [
        ("broken.mid", "The MIDI file's header is damaged.")]


def test_entries_named_as_midi_files_that_are_none_are_listed_with_their_reason(corpus, bundle, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write(src / "good.mid", [(_notes(4, seed=3), 0, 0)])
    (src / "folder.mid").mkdir()
    (src / "dangling.mid").symlink_to(tmp_path / "nowhere.mid")
    (src / "loop.mid").symlink_to(src / "loop.mid")
    first = quiet_build([src], tmp_path / "idx", bundle)
    assert first.added == 1 and sorted((Path(p).name, e) for p, e in first.failed) == [
        ("dangling.mid", "It is a broken link, or a link to itself."),
        ("folder.mid", "It is a folder, not a MIDI file."),
        ("loop.mid", "It is a broken link, or a link to itself.")]
    again = quiet_build([src], tmp_path / "idx", bundle)  # unreadable: tried again, failed again, never "updated"
    assert (again.added, again.updated, again.unchanged, len(again.failed)) == (0, 0, 1, 3)


def test_a_pipe_named_as_a_midi_file_is_listed_not_read(bundle, tmp_path):
    import threading

    src = tmp_path / "src"
    src.mkdir()
    _write(src / "good.mid", [(_notes(4, seed=3), 0, 0)])
    os.mkfifo(src / "pipe.mid")  # opening it for reading waits for a writer that never comes
    done: list = []
    worker = threading.Thread(target=lambda: done.append(quiet_build([src], tmp_path / "idx", bundle)), daemon=True)
    worker.start()
    worker.join(120)
    assert done, "the build waited on the pipe"
    assert done[0].added == 1 and [(Path(p).name, e) for p, e in done[0].failed] == [
        ("pipe.mid", "It is not a regular file (a pipe or a device), so it is not read.")]


def test_a_file_that_breaks_after_it_was_indexed_is_failed_not_updated(bundle, tmp_path):
    src = tmp_path / "src"
    keep, breaks = _write(src / "a.mid", [(_notes(4, seed=1), 0, 0)]), _write(src / "b.mid", [(_notes(4, seed=2), 0, 0)])
    quiet_build([src], tmp_path / "idx", bundle)
    breaks.write_bytes(b"")
    r = quiet_build([src], tmp_path / "idx", bundle)
    assert (r.added, r.updated, r.removed, r.unchanged) == (0, 0, 0, 1)
    assert [(Path(p).name, e) for p, e in r.failed] == [("b.mid", "The file is empty.")] and keep.is_file()


def test_a_file_whose_name_is_not_utf8_is_listed_as_failed_and_the_rest_is_indexed(bundle, tmp_path):
    src = tmp_path / "src"
    _write(src / "ok.mid", [(_notes(4, seed=1), 0, 0)])
    _write(Path(os.fsdecode(bytes(src) + b"/bad\xff\xfe.mid")), [(_notes(4, seed=2), 0, 0)])
    for _ in range(2):  # and again: still listed, nothing else changes
        r = quiet_build([src], tmp_path / "idx", bundle)
        assert r.failed == [(f"{src}/bad\\xff\\xfe.mid", "The file's name is not UTF-8 text, which the index "
                                                          "cannot store; rename the file to index it.")]
    assert (r.added, r.unchanged) == (0, 1)


def test_the_cli_exits_with_an_error_when_none_of_the_files_could_be_read(tmp_path):
    (tmp_path / "empty.mid").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "midi_rae", "index", str(tmp_path / "empty.mid"), "--out",
                        str(tmp_path / "idx"), "--quiet", "--no-compile"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (f"error: its one file could not be read, so {tmp_path / 'idx'} "
                                                 "holds no windows.")


def test_a_model_with_narrower_windows_is_indexed_with_its_f1_and_error_profiles(corpus, tmp_path):
    """Windows of 64 steps (patches 4 x 2: the same grid): the per-step error columns are 64 wide."""
    from midi_rae.checkpoint import DEFAULT_CONFIG, build_models, save_checkpoint
    from midi_rae.index import CorpusIndex, build_index

    cfg = {**DEFAULT_CONFIG, "img_width": 64, "patch_w": DEFAULT_CONFIG["patch_w"] // 2}
    enc, dec = build_models(cfg, "swin")
    ckpt = save_checkpoint(tmp_path / "narrow.safetensors", enc.eval(), dec.eval(), cfg, {"threshold": 0.5})
    report = build_index([corpus["src"] / "alpha"], tmp_path / "idx", str(ckpt), compile=False, progress=False,
                         log=lambda s: None)
    assert report.added == 4 and not report.failed
    win = CorpusIndex(tmp_path / "idx").windows(["f1_masked", "err_step", "err_pitch"])
    assert len(win) == report.windows and win["f1_masked"].between(0, 1).all()
    assert {len(v) for v in win["err_step"]} == {64} and {len(v) for v in win["err_pitch"]} == {128}


def test_incremental_add_change_delete(corpus, bundle, tmp_path):
    import shutil

    from midi_rae.index import CorpusIndex, build_index

    src = tmp_path / "src"
    shutil.copytree(corpus["src"] / "alpha", src / "alpha")
    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    r1 = build_index([src], out, **quiet)
    assert (r1.added, r1.unchanged) == (4, 0)
    r2 = build_index([src], out, **quiet)
    assert (r2.added, r2.updated, r2.removed, r2.unchanged, r2.windows) == (0, 0, 0, 4, 0)
    _write(src / "alpha" / "new.mid", [(_notes(9, seed=77), 0, 0)])                     # added
    _write(src / "alpha" / "noise_0.mid", [(_notes(10, seed=78), 0, 0)])                # changed (was 12 bars)
    (src / "alpha" / "noise_1.mid").unlink()                                            # deleted
    r3 = build_index([src], out, **quiet)
    assert (r3.added, r3.updated, r3.removed, r3.unchanged) == (1, 1, 1, 2)
    idx = CorpusIndex(out)
    pieces = idx.pieces().set_index("name")
    assert sorted(pieces.index) == ["new", "noise_0", "noise_2", "planted"]
    assert pieces.loc["noise_0", "windows"] == 3 and pieces.loc["new", "windows"] == 2
    win = idx.windows()
    assert len(win) == pieces["windows"].sum()                     # the old windows of noise_0/noise_1 are gone
    assert set(win["piece_id"]) == set(pieces["piece_id"])
    for k in idx.patch_levels:
        assert set(idx.column("piece_id", f"patches_{k}")) <= set(pieces["piece_id"])


def test_a_run_that_names_some_files_keeps_the_pieces_of_the_others(corpus, bundle, tmp_path):
    from midi_rae.index import CorpusIndex, build_index

    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None, jobs=0)
    out = tmp_path / "index"
    build_index([corpus["src"] / "alpha"], out, **quiet)
    r = build_index([corpus["src"] / "beta" / "other.mid"], out, **quiet)
    assert (r.added, r.removed) == (1, 0)
    assert sorted(CorpusIndex(out).pieces()["name"]) == ["noise_0", "noise_1", "noise_2", "other", "planted"]


def test_a_mistyped_source_changes_nothing_and_says_why(corpus, bundle, tmp_path):
    from midi_rae.index import build_index

    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    with pytest.raises(ValueError) as e:
        build_index([tmp_path / "nowhere"], tmp_path / "index", **quiet)
    assert str(e.value) == f"Nothing was indexed or changed: {tmp_path / 'nowhere'} does not exist."
    assert not (tmp_path / "index").exists()


def test_a_second_run_into_a_folder_being_written_is_refused_in_one_sentence(corpus, bundle, tmp_path):
    from filelock import FileLock

    from midi_rae.index import CorpusIndex, IndexBusy, build_index

    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    out.mkdir()
    with FileLock(str(out / ".index.lock")):  # the lock another run holds while it writes
        with pytest.raises(IndexBusy) as e:
            build_index([corpus["src"] / "alpha"], out, **quiet)
    assert str(e.value) == (f"Another run is writing to the index at {out}; wait for it to end (a second run then "
                            "only adds what changed), or choose another --out.")
    assert not CorpusIndex.exists(out)
    assert build_index([corpus["src"] / "alpha"], out, **quiet).added == 4  # released: the next run goes on


def test_an_output_path_that_is_a_file_is_refused_in_one_sentence(corpus, bundle, tmp_path):
    from midi_rae.index import build_index

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"] / "alpha"], tmp_path / "notes.txt", bundle=bundle, compile=False, progress=False,
                    log=lambda s: None)
    assert str(e.value) == f"{tmp_path / 'notes.txt'} is a file, not an index folder; choose another --out."
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_index_built_without_f1_says_so_and_is_not_updated_with_it(corpus, bundle, tmp_path):
    from midi_rae.index import CorpusIndex, build_index

    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    assert build_index([corpus["src"] / "alpha"], out, reconstruction=False, **quiet).added == 4
    meta = CorpusIndex(out).meta
    assert meta["has_decoder"] is False and meta["f1_skipped"] is True
    with pytest.raises(ValueError) as e:  # pieces with F1 beside pieces without, in an index that says it has none
        build_index([corpus["src"]], out, **quiet)
    assert str(e.value) == (f"The index at {out} was built without reconstruction F1; add --no-reconstruction to "
                            "update it, or --rebuild it to score every piece.")
    assert build_index([corpus["src"]], out, reconstruction=False, **quiet).added > 0


def test_silent_windows_are_never_offered_as_similar_passages(bundle, tmp_path):
    from midi_rae.index import CorpusIndex, build_index, search_passage

    rest = _write(tmp_path / "src" / "c" / "rest.mid", [(_notes(4, seed=1), 0, 0), (_notes(4, seed=2), 4 * 28, 0)])
    query = _write(tmp_path / "q.mid", [(_notes(8, seed=3), 0, 0)])
    build_index([tmp_path / "src"], tmp_path / "idx", bundle=bundle, compile=False, progress=False, log=lambda s: None)
    silent = CorpusIndex(tmp_path / "idx").windows(where="pitch_lo < 0")
    assert len(silent) >= 10  # 24 bars of rest: windows of the rest alone
    hits = search_passage(tmp_path / "idx", query, bar=1, level=3, k=30, bundle=bundle, distinct=False)
    assert hits and all(h.pitch_lo >= 0 for h in hits)
    assert not {h.window for h in hits} & set(silent["window"])


def test_an_index_built_with_a_deleted_copy_of_a_shipped_checkpoint_is_searched_with_the_shipped_one(tmp_path):
    import shutil

    from midi_rae.checkpoint_meta import ASSETS
    from midi_rae.index import checkpoint_key, own_checkpoint

    shipped = sorted(Path(ASSETS).glob("*.safetensors"))[-1]
    copy = shutil.copy(shipped, tmp_path / "mine.safetensors")

    meta = {"checkpoint": str(copy), "decoder": None, "checkpoint_key": checkpoint_key(None, str(copy), None)}
    assert own_checkpoint(meta) == (str(copy), None)
    Path(copy).unlink()
    assert own_checkpoint(meta) == (str(shipped), None)
    assert own_checkpoint({**meta, "checkpoint_key": "0123456789abcdef"}) == (None, None)


def test_a_run_its_caller_stops_keeps_the_pieces_encoded_whole_and_a_rerun_adds_the_rest(corpus, bundle, tmp_path):
    from midi_rae.index import CorpusIndex, build_index

    class Stopped(BaseException):  # as Streamlit stops a page's script when the page is left
        pass

    def stop_at_the_third(done: int, total: int, name: str) -> None:
        if done >= 3:
            raise Stopped

    out = tmp_path / "index"
    with pytest.raises(Stopped):
        build_index([corpus["src"] / "alpha"], out, bundle=bundle, compile=False, progress=stop_at_the_third,
                    log=lambda s: None)
    kept = CorpusIndex(out).count("pieces")
    assert kept >= 2  # before, nothing: the buffer is committed only every 8,000 windows
    again = build_index([corpus["src"] / "alpha"], out, bundle=bundle, compile=False, progress=False,
                        log=lambda s: None)
    assert (again.unchanged, again.added) == (kept, 4 - kept)


def test_an_index_on_a_read_only_file_system_is_refused_for_updates_in_one_sentence(corpus, bundle, tmp_path,
                                                                                     monkeypatch):
    import errno

    import filelock

    from midi_rae.index import build_index

    def read_only(self, *a, **k):  # what a read-only mount answers (root may write anywhere else)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"] / "alpha"], tmp_path / "index", bundle=bundle, compile=False, progress=False,
                    log=lambda s: None)
    assert str(e.value) == (f"{tmp_path / 'index'} cannot be written to (read-only): an index there can be searched "
                            "but not updated; choose another --out.")


def test_a_run_told_to_wait_starts_once_the_other_has_ended(corpus, bundle, tmp_path):
    import threading

    from filelock import FileLock

    from midi_rae.index import build_index

    out = tmp_path / "index"
    out.mkdir()
    other = FileLock(str(out / ".index.lock"), thread_local=False)  # released from the timer's thread
    other.acquire()
    said = []

    def progress(done, total, name):
        if total == 0:
            said.append(name)
            threading.Timer(0.5, other.release).start()  # the other run ends while this one waits

    r = build_index([corpus["src"] / "alpha"], out, bundle=bundle, compile=False, progress=progress,
                    log=lambda s: None, wait_s=60)
    assert said == ["waiting for another build of these files to end"] and r.added == 4


def test_a_build_with_a_window_budget_leaves_out_what_passes_it_and_a_later_run_adds_it(corpus, bundle, tmp_path):
    from midi_rae.index import CorpusIndex, build_index

    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None, jobs=0)
    out = tmp_path / "index"
    r1 = build_index([corpus["src"] / "alpha"], out, max_windows=9, **quiet)
    kept = CorpusIndex(out).pieces()
    assert r1.added == len(kept) >= 1 and 0 < kept["windows"].sum() <= 9
    assert len(r1.failed) == 4 - r1.added and {e for _, e in r1.failed} == {
        "Left out: one build here encodes at most 9 windows (index larger collections with `midi-rae index`)."}
    r2 = build_index([corpus["src"] / "alpha"], out, **quiet)
    assert (r2.added, r2.unchanged, r2.failed) == (4 - r1.added, r1.added, [])


def test_build_writes_the_pages_snapshot_and_it_matches_the_store(built):
    """The page's lancedb-free snapshot holds the same pieces, windows and pooled vectors as the Lance tables."""
    from midi_rae.index import CorpusIndex
    from midi_rae.index_view import open_view, version_key

    out, _ = built
    idx = CorpusIndex(out)
    assert (out / "view" / version_key(out) / "meta.json").is_file()
    view = open_view(out, out / "no-cache")
    assert view.meta == idx.meta and view.failures() == idx.failures()
    assert view.pieces().equals(idx.pieces()) and view.windows.equals(idx.windows())
    for k in range(view.levels):
        assert np.array_equal(view.vectors(k), idx.column(f"emb_{k}"))


def test_the_snapshot_is_read_without_importing_lancedb_or_the_index_module(built):
    out, _ = built
    code = (f"import sys; sys.modules['lancedb'] = None; sys.modules['midi_rae.index'] = None\n"
            f"from pathlib import Path\nfrom midi_rae.index_view import open_view\n"
            f"v = open_view({str(out)!r}, Path('unused'))\nprint(len(v.windows), v.vectors(3).shape[0])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    n = int(r.stdout.split()[0])
    assert r.stdout.split() == [str(n), str(n)] and n > 0


def test_an_update_makes_a_new_snapshot_and_keeps_the_last_one(corpus, bundle, tmp_path):
    import shutil

    from midi_rae.index import build_index
    from midi_rae.index_view import open_view, version_key

    src = tmp_path / "src"
    shutil.copytree(corpus["src"] / "alpha", src / "alpha")
    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    build_index([src], out, **quiet)
    first = version_key(out)
    n_first = len(open_view(out, tmp_path / "cache").windows)
    _write(src / "alpha" / "new.mid", [(_notes(9, seed=77), 0, 0)])
    build_index([src], out, **quiet)
    assert version_key(out) != first
    assert len(open_view(out, tmp_path / "cache").windows) == n_first + 2
    assert sorted(p.name for p in (out / "view").iterdir()) == sorted([first, version_key(out)])


def test_a_read_only_index_gets_its_snapshot_in_the_cache(built, tmp_path, monkeypatch):
    """Where the index folder cannot be written (an installed package's shipped index), the snapshot goes to the
    cache folder."""
    import shutil
    import tempfile

    from midi_rae import index_view

    ro = tmp_path / "ro"
    shutil.copytree(built[0], ro, ignore=shutil.ignore_patterns("view"))
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(prefix=None, dir=None):
        if Path(dir).is_relative_to(ro):
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(index_view.tempfile, "mkdtemp", mkdtemp)
    view = index_view.open_view(ro, tmp_path / "cache")
    assert view.folder.parent.parent == tmp_path / "cache" / "views"
    assert view.folder.name == index_view.version_key(ro) and len(view.windows) > 0
    again = index_view.open_view(ro, tmp_path / "cache")
    assert again.folder == view.folder and again.windows.equals(view.windows)


def _damaged_copy(built, tmp_path, name: str, damage) -> Path:
    """A copy of the built index whose current snapshot `damage(folder)` has spoilt."""
    import shutil

    from midi_rae.index_view import version_key

    out = tmp_path / name
    shutil.copytree(built[0], out)
    damage(out / "view" / version_key(out))
    return out


class _Reduce:
    def __reduce__(self):
        import os

        return os.system, ("touch PWNED",)


@pytest.mark.parametrize("damage", [
    lambda f: (f / "emb_3.npy").write_bytes(b"not an array at all"),
    lambda f: (f / "emb_2.npy").write_bytes(__import__("pickle").dumps(_Reduce())),
    lambda f: np.save(f / "emb_1.npy", np.zeros((3, 4), np.float32)),
    lambda f: (f / "meta.json").write_text(json.dumps({**json.loads((f / "meta.json").read_text()), "levels": "many"})),
    lambda f: (f / "meta.json").write_bytes(b"\xff\xfe garbage"),
    lambda f: (f / "windows.arrow").write_bytes(b"ARROW1 truncated"),
], ids=["garbage-vectors", "pickled-vectors", "wrong-shape", "wrong-type-meta", "undecodable-meta", "garbage-table"])
def test_a_damaged_snapshot_is_made_again_from_the_tables(built, tmp_path, monkeypatch, damage):
    """The snapshot is derived data: a damaged one is checked whole on reading, never unpickled, and replaced by a
    fresh one in the cache folder (the index folder's own files are left as they are)."""
    from midi_rae.index import CorpusIndex
    from midi_rae.index_view import open_view

    monkeypatch.chdir(tmp_path)
    out = _damaged_copy(built, tmp_path, "damaged", damage)
    view = open_view(out, tmp_path / "cache")
    idx = CorpusIndex(out)
    assert view.folder.parent.parent == tmp_path / "cache" / "views"
    assert view.meta == idx.meta and view.windows.equals(idx.windows())
    for k in range(view.levels):
        assert np.array_equal(view.vectors(k), idx.column(f"emb_{k}"))
    assert open_view(out, tmp_path / "cache").folder == view.folder
    assert not (tmp_path / "PWNED").exists()


def test_an_index_whose_tables_are_damaged_is_named_in_one_sentence(built, tmp_path):
    import shutil

    from midi_rae.index_view import UnreadableIndex, open_view

    out = tmp_path / "broken"
    shutil.copytree(built[0], out, ignore=shutil.ignore_patterns("view"))
    for f in (out / "meta.lance" / "_versions").iterdir():
        f.write_bytes(b"garbage")
    with pytest.raises(UnreadableIndex) as e:
        open_view(out, tmp_path / "cache")
    assert str(e.value) == ("broken is not a readable index: its Lance tables are damaged or incomplete "
                            "(rebuild it with 'midi-rae index --rebuild').")


def test_an_index_with_wrong_typed_metadata_is_named_in_one_sentence(built, tmp_path):
    import shutil

    from midi_rae.index import CorpusIndex
    from midi_rae.index_view import UnreadableIndex

    out = tmp_path / "odd"
    shutil.copytree(built[0], out)
    CorpusIndex(out).set_meta(grids=7)
    with pytest.raises(UnreadableIndex) as e:
        CorpusIndex(out).check()
    assert str(e.value) == f"{out} is not a readable index: its metadata gives no valid patch grid per level."


def test_an_index_whose_resolution_no_checkpoint_could_have_is_named_in_one_sentence(built, tmp_path):
    import shutil

    from midi_rae.index import CorpusIndex
    from midi_rae.index_view import UnreadableIndex

    out = tmp_path / "fine"
    shutil.copytree(built[0], out)
    CorpusIndex(out).set_meta(steps_per_beat=65536)  # a query read at it would need a 39 GB roll
    with pytest.raises(UnreadableIndex) as e:
        CorpusIndex(out).check()
    assert str(e.value).endswith("its metadata's steps_per_beat is not a whole number from 1 to 48.")


def test_a_stored_window_image_is_inflated_no_further_than_its_size():
    import zlib

    from midi_rae.index import unpack_window

    window = np.zeros((128, 128), np.uint8)
    window[60, 3:9] = 1
    assert (unpack_window(zlib.compress(np.packbits(window).tobytes()), 128) == window).all()
    for bad in (zlib.compress(b"\0" * 2 ** 28), zlib.compress(b"\0" * 100), b"not zlib"):  # a bomb, short, junk
        with pytest.raises(ValueError):
            unpack_window(bad, 128)


def test_interrupted_run_resumes(corpus, bundle, tmp_path, monkeypatch):
    """Windows committed without their piece row (a run killed between the two commits) are dropped and redone."""
    from midi_rae import index as index_mod
    from midi_rae.index import CorpusIndex, build_index

    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    real_add = CorpusIndex.add

    def dying_add(self, name, data):
        if name == "pieces":
            raise KeyboardInterrupt
        real_add(self, name, data)

    monkeypatch.setattr(CorpusIndex, "add", dying_add)
    assert build_index([corpus["src"] / "alpha"], out, **quiet).interrupted
    monkeypatch.setattr(CorpusIndex, "add", real_add)
    assert CorpusIndex(out).count("pieces") == 0 and CorpusIndex(out).count("windows") > 0
    r = build_index([corpus["src"] / "alpha"], out, **quiet)
    assert r.added == 4
    idx = CorpusIndex(out)
    assert idx.count("windows") == idx.pieces()["windows"].sum()
    assert index_mod.FLUSH_WINDOWS > 0


def test_ctrl_c_keeps_the_pieces_encoded_so_far(corpus, bundle, tmp_path):
    """An interrupted run commits every piece it finished (not only those of its last 8,000-window commit)."""
    from midi_rae.index import CorpusIndex, build_index

    out = tmp_path / "index"

    def stop_after_two(done, total, name):
        if done == 2:
            raise KeyboardInterrupt

    quiet = dict(bundle=bundle, compile=False, log=lambda s: None)
    assert build_index([corpus["src"] / "alpha"], out, progress=stop_after_two, **quiet).interrupted
    idx = CorpusIndex(out)
    assert idx.count("pieces") == 2 and idx.count("windows") == idx.pieces()["windows"].sum()
    r = build_index([corpus["src"] / "alpha"], out, progress=False, **quiet)
    assert (r.added, r.unchanged) == (2, 2)


def test_parse_workers_end_when_the_indexing_process_is_gone(tmp_path):
    """`index` killed with SIGKILL cannot stop its parsing workers: each watches for it and ends within seconds."""
    import os
    import signal
    import time

    code = ("import os, time\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "import multiprocessing as mp\n"
            "from midi_rae.workers import watch_parent\n"
            "ex = ProcessPoolExecutor(1, mp_context=mp.get_context('spawn'), initializer=watch_parent,\n"
            "                         initargs=(os.getpid(), 0.2))\n"
            "print(ex.submit(os.getpid).result(), flush=True)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    t0 = time.time()
    while time.time() - t0 < 20:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{worker}/stat") as f:  # a zombie (dead, not yet reaped by init) counts as gone
            if f.read().split(") ")[1].startswith("Z"):
                break
        time.sleep(0.2)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent by 20 s")


def test_a_linked_file_is_listed_under_its_own_name_and_once(tmp_path):
    from midi_rae.index import discover

    (tmp_path / "src").mkdir()
    real = _write(tmp_path / "src" / "real.mid", [(_notes(2, seed=1), 0, 0)])
    (tmp_path / "src" / "link.mid").symlink_to(real)
    (tmp_path / "src" / "odd.mid").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "elsewhere.txt").write_text("not midi")
    files, missing = discover([tmp_path / "src"])
    assert files == [tmp_path / "src" / "odd.mid", tmp_path / "src" / "real.mid"] and missing == []


def test_karaoke_and_upper_case_midi_files_are_sources(tmp_path):
    from midi_rae.index import discover

    song = [(_notes(2, seed=1), 0, 0)]
    for name in ("a.kar", "B.MID", "c.Midi", "notes.txt"):
        _write(tmp_path / name, song)
    files, _ = discover([tmp_path])
    assert [f.name for f in files] == ["B.MID", "a.kar", "c.Midi"]


def _locked(monkeypatch, folder: Path) -> None:
    """`folder` as one this user may not enter: listing it or looking at a file in it is refused."""
    lstat, scandir = os.lstat, os.scandir

    def refuse(fn):
        def call(p, *args, **kwargs):
            if str(p).startswith(str(folder)):
                raise PermissionError(13, "Permission denied", str(p))
            return fn(p, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "lstat", refuse(lstat))
    monkeypatch.setattr(os, "scandir", refuse(scandir))


def test_a_file_in_a_folder_that_cannot_be_entered_is_not_taken_for_gone(tmp_path, monkeypatch):
    from midi_rae.index import _gone

    _locked(monkeypatch, tmp_path / "locked")
    assert not _gone(str(tmp_path / "locked" / "a.mid"))
    assert _gone(str(tmp_path / "elsewhere" / "a.mid"))


def test_a_folder_that_cannot_be_listed_is_named_with_what_it_means(tmp_path, monkeypatch):
    from midi_rae.file_limits import unlisted, unlisted_folders

    (tmp_path / "src" / "locked").mkdir(parents=True)
    (tmp_path / "src" / "open").mkdir()
    _locked(monkeypatch, tmp_path / "src" / "locked")
    assert unlisted_folders([tmp_path / "src"]) == [str(tmp_path / "src" / "locked")]
    assert unlisted("x/locked") == ("the folder x/locked could not be listed (its permissions?): its files were not "
                                    "read, and an index keeps the pieces it holds from it")


def test_search_finds_a_planted_copy(built, corpus, bundle):
    from midi_rae.index import search_passage

    for level in (2, 3, 4):
        hits = search_passage(built[0], corpus["query"], bar=3, level=level, k=5, bundle=bundle)
        top = hits[0]
        assert (top.piece, top.start_bar) == ("planted", 5.0), (level, hits[:2])
        assert top.similarity > 0.999 and top.end_bar == 12.0


def test_search_lists_each_passage_once(built, corpus, bundle):
    """Windows are cut a bar apart: without `distinct` the planted passage's neighbouring windows fill the list;
    with it (the default) no two hits of one piece share more than half their steps."""
    from midi_rae.index import search_passage

    raw = search_passage(built[0], corpus["query"], bar=3, level=3, k=4, bundle=bundle, distinct=False)
    assert [h.piece for h in raw[:2]] == ["planted", "planted"]
    assert min(raw[0].end_step, raw[1].end_step) - max(raw[0].start_step, raw[1].start_step) > 64  # a neighbour
    hits = search_passage(built[0], corpus["query"], bar=3, level=3, k=4, bundle=bundle)
    assert (hits[0].piece, hits[0].start_bar) == ("planted", 5.0) and len(hits) == 4
    for i, a in enumerate(hits):
        for b in hits[i + 1:]:
            if a.piece_id == b.piece_id:
                assert min(a.end_step, b.end_step) - max(a.start_step, b.start_step) <= 64


def test_search_can_leave_out_the_querys_own_passage(built, corpus, bundle):
    from midi_rae.index import search_passage

    top = search_passage(built[0], corpus["query"], bar=3, level=3, k=1, bundle=bundle)[0]
    hits = search_passage(built[0], corpus["query"], bar=3, level=3, k=3, bundle=bundle,
                          avoid=[(top.piece_id, top.start_step, top.end_step)])
    assert all(h.piece_id != top.piece_id or abs(h.start_step - top.start_step) >= 64 for h in hits)


def test_search_from_a_file_in_the_index_leaves_out_its_own_passage_unless_asked_to_keep_it(built, corpus, capsys):
    from midi_rae.__main__ import main

    planted = corpus["src"] / "alpha" / "planted.mid"
    args = ["search", str(built[0]), "--query", str(planted), "--bar", "5", "--level", "3", "-k", "1", "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    hit = json.loads(out)["hits"][0]
    assert err.strip() == "note: the query's own passage is in the index and left out (--include-self keeps it)."
    assert (hit["piece"], hit["start_bar"]) != ("planted", 5.0)  # as the Corpus page lists it
    assert main(args + ["--include-self"]) == 0
    out, err = capsys.readouterr()
    hit = json.loads(out)["hits"][0]
    assert (hit["piece"], hit["start_bar"], round(hit["similarity"], 4)) == ("planted", 5.0, 1.0) and not err


def test_distinct_passages_keeps_the_best_of_overlapping_hits():
    from midi_rae.index import Hit, distinct_passages

    def hit(pid, start, sim, patch=None, length=128):
        return Hit(piece=f"p{pid}", path="", collection="", window=0, start_step=start, start_bar=1, end_bar=1,
                   pitch_lo=0, pitch_hi=127, similarity=sim, patch=patch, piece_id=pid, end_step=start + length)

    # (1, 96) shares a quarter of its steps with (1, 0): the same passage; (1, 100) shares less: another
    hits = [hit(1, 0, 0.9), hit(1, 16, 0.8), hit(2, 16, 0.7), hit(1, 96, 0.6), hit(1, 100, 0.5), hit(1, 300, 0.4)]
    assert [(h.piece_id, h.start_step) for h in distinct_passages(hits, 10)] == [(1, 0), (2, 16), (1, 100), (1, 300)]
    assert [(h.piece_id, h.start_step) for h in distinct_passages(hits, 2)] == [(1, 0), (2, 16)]
    assert len(distinct_passages(hits, 10, overlapping=True)) == 6
    assert [(h.piece_id, h.start_step) for h in distinct_passages(hits, 10, avoid=[(1, 0, 128)])] == \
        [(2, 16), (1, 100), (1, 300)]
    # patches: the same steps in another pitch row are another passage
    patches = [hit(1, 0, 0.9, (0, 0), 32), hit(1, 0, 0.8, (1, 0), 32), hit(1, 8, 0.7, (0, 0), 32)]
    assert [h.patch for h in distinct_passages(patches, 10)] == [(0, 0), (1, 0)]


def test_search_finds_a_transposed_copy_with_its_interval(built, corpus, bundle):
    from midi_rae.index import search_passage

    plain = search_passage(built[0], corpus["query"], bar=3, level=3, k=3, bundle=bundle)
    assert all(h.piece != "transposed" or h.similarity < 0.999 for h in plain)
    hits = search_passage(built[0], corpus["query"], bar=3, level=3, k=3, bundle=bundle,
                          transposition_invariant=True)
    found = {(h.piece, h.start_bar): h for h in hits}
    assert ("transposed", 2.0) in found and ("planted", 5.0) in found
    assert found[("transposed", 2.0)].interval == 5 and found[("transposed", 2.0)].similarity > 0.999
    assert found[("planted", 5.0)].interval == 0
    assert found[("transposed", 2.0)].pitch_lo == found[("planted", 5.0)].pitch_lo + 5


def test_patch_search(built, corpus, bundle):
    from midi_rae.index import search_passage

    hits = search_passage(built[0], corpus["query"], bar=3, level=2, patch=(2, 1), k=3, bundle=bundle)
    top = hits[0]
    assert top.piece == "planted" and top.patch == (2, 1) and top.similarity > 0.999
    assert top.start_bar == 7.0 and top.end_bar == 8.0 and (top.pitch_lo, top.pitch_hi) == (64, 95)
    with pytest.raises(ValueError, match="not in this index"):
        search_passage(built[0], corpus["query"], bar=3, level=4, patch=(0, 0), bundle=bundle)


def test_a_search_from_an_empty_window_or_patch_says_so(built, corpus, bundle, tmp_path):
    from midi_rae.index import search_passage

    gap = _write(tmp_path / "gap.mid", [(_notes(1, seed=5), 0, 0), (_notes(1, seed=6), 40, 0)])  # bars 1 and 11
    with pytest.raises(ValueError) as e:
        search_passage(built[0], gap, bar=2, bundle=bundle)
    assert str(e.value) == "The window at bar 2 of the query holds no notes; choose a bar with notes."
    with pytest.raises(ValueError) as e:  # row 0 of level 2: pitches 0-31, below every note of the query
        search_passage(built[0], corpus["query"], bar=3, level=2, patch=(0, 1), bundle=bundle)
    assert str(e.value) == "Patch 0,1 of level 2 holds no notes in the window at bar 3; choose a patch with notes."


def test_ann_recall(corpus, bundle, tmp_path):
    """Above the row threshold a column gets an IVF index; its recall@10 against exact search is high."""
    from midi_rae.index import CorpusIndex, build_index, recall_at_k

    out = tmp_path / "index"
    build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=False, log=lambda s: None,
                ann_min_rows=10, patch_levels=[2])
    idx = CorpusIndex(out)
    assert idx.ann_ready("windows", "emb_3") and idx.ann_ready("patches_2", "vector")
    r = recall_at_k(idx, level=3, k=10, queries=20)
    assert r["ann_index"] and r["recall"] >= 0.9, r
    r = recall_at_k(idx, level=2, k=10, queries=20, patch=True)
    assert r["recall"] >= 0.9, r


def test_png_roll_reading(tmp_path):
    from midi_rae.pianoroll import MidiError
    from midi_rae.png_rolls import png_to_roll, roll_to_png

    a = np.zeros((128, 40), np.uint8)
    a[60, 4:12] = 1
    a[64, 8:9] = 1
    data = roll_to_png(a)
    roll = png_to_roll(data)
    assert np.array_equal(roll.array, a) and roll.n_notes == 2 and roll.steps == 40
    flipped = png_to_roll(roll_to_png(a, flip=True), flip=True)
    assert np.array_equal(flipped.array, a)
    assert png_to_roll(roll_to_png(a, flip=True)).array[127 - 60, 5] == 1
    from PIL import Image
    import io

    grey = (a * 60).astype(np.uint8)  # 60/255 = 0.235: below the 0.25 cut
    buf = io.BytesIO()
    Image.fromarray(grey + (a * 10).astype(np.uint8), mode="L").save(buf, format="PNG")  # 70/255 = 0.27: above
    assert np.array_equal(png_to_roll(buf.getvalue()).array, a)
    buf = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buf, format="PNG")
    with pytest.raises(MidiError, match="no lit pixels"):
        png_to_roll(buf.getvalue())
    with pytest.raises(MidiError, match="128 pixels high"):
        png_to_roll(roll_to_png(np.ones((64, 10))))
    with pytest.raises(MidiError, match="not a PNG"):
        png_to_roll(b"MThd")


def test_png_folder_as_a_source(tmp_path, bundle):
    from midi_rae.index import CorpusIndex, build_index
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    roll = midi_to_roll(_write(tmp_path / "p.mid", [(_notes(10, seed=5), 0, 0)]))
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "roll.png").write_bytes(roll_to_png(roll.array))
    (tmp_path / "pngs" / "upside.png").write_bytes(roll_to_png(roll.array, flip=True))
    r = build_index([tmp_path / "pngs"], tmp_path / "index", bundle=bundle, compile=False, progress=False,
                    log=lambda s: None)
    assert r.added == 2
    idx = CorpusIndex(tmp_path / "index")
    p = idx.pieces().set_index("name")
    assert set(p["kind"]) == {"png"} and p.loc["roll", "pitch_lo"] == roll.pitch_range()[0]
    assert p.loc["upside", "pitch_lo"] == 127 - roll.pitch_range()[1]  # read without --flip-png


def test_a_png_roll_under_a_midi_name_is_indexed_as_the_piece_page_reads_it_by_its_bytes(tmp_path, bundle):
    from midi_rae.index import CorpusIndex, build_index
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    roll = midi_to_roll(_write(tmp_path / "p.mid", [(_notes(10, seed=5), 0, 0)]))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "roll.mid").write_bytes(roll_to_png(roll.array))
    r = build_index([tmp_path / "src"], tmp_path / "index", bundle=bundle, compile=False, progress=False,
                    log=lambda s: None)
    assert (r.added, r.failed) == (1, [])
    p = CorpusIndex(tmp_path / "index").pieces().set_index("name")
    assert p.loc["roll", "kind"] == "png" and p.loc["roll", "pitch_lo"] == roll.pitch_range()[0]


def test_a_png_rolls_hit_is_placed_in_steps_with_no_bars_metre_or_tempo_of_its_own():
    from midi_rae.index import Hit

    common = dict(piece="p", collection="c", window=3, start_step=48, start_bar=4.0, end_bar=11.0, pitch_lo=60,
                  pitch_hi=72, similarity=0.9, end_step=176)
    png, midi = Hit(path="/r/p.png", **common), Hit(path="/r/p.mid", **common)
    assert (png.place(), midi.place()) == ("steps 48–175", "bars 4–11")
    assert [png.as_dict()[k] for k in ("start_bar", "end_bar", "metre", "tempo_bpm", "start_step")] == [
        None, None, None, None, 48]
    assert midi.as_dict()["metre"] == "4/4" and midi.as_dict()["start_bar"] == 4.0


def test_an_index_of_flipped_png_rolls_remembers_the_flip_for_updates_and_queries(tmp_path, bundle):
    from midi_rae.index import build_index, search_passage
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    roll = midi_to_roll(_write(tmp_path / "p.mid", [(_notes(10, seed=5), 0, 0)]))
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "upside.png").write_bytes(roll_to_png(roll.array, flip=True))
    (tmp_path / "pngs" / "other.png").write_bytes(roll_to_png(np.roll(roll.array, 7, axis=0), flip=True))
    assert build_index([tmp_path / "pngs"], tmp_path / "index", flip_png=True, **quiet).added == 2
    with pytest.raises(ValueError) as e:  # unchanged files are not read again: a plain run would mix the two readings
        build_index([tmp_path / "pngs"], tmp_path / "index", **quiet)
    assert str(e.value) == (f"The index at {tmp_path / 'index'} read its PNG rolls with --flip-png; update it the "
                            "same way, or --rebuild it.")
    (hit, *_) = search_passage(tmp_path / "index", tmp_path / "pngs" / "upside.png", bar=1, level=3, k=2,
                               bundle=bundle)  # the query read the way the index read its rolls: itself at bar 1
    assert hit.piece == "upside" and hit.start_step == 0 and hit.similarity > 0.999


def test_an_index_of_midi_files_alone_takes_png_rolls_read_either_way_up(tmp_path, bundle):
    from midi_rae.index import CorpusIndex, build_index
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)
    song = _write(tmp_path / "src" / "song.mid", [(_notes(10, seed=5), 0, 0)])
    build_index([tmp_path / "src"], tmp_path / "index", **quiet)
    (tmp_path / "src" / "upside.png").write_bytes(roll_to_png(midi_to_roll(song).array, flip=True))
    assert build_index([tmp_path / "src"], tmp_path / "index", flip_png=True, **quiet).added == 1
    assert CorpusIndex(tmp_path / "index").meta["flip_png"] is True  # from now on it holds rolls read so


def test_a_patch_level_the_model_lacks_is_refused_before_the_model_loads(corpus, tmp_path, monkeypatch):
    import midi_rae.checkpoint
    from midi_rae.index import build_index

    def never(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(midi_rae.checkpoint, "load_model", never)
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"]], tmp_path / "idx", patch_levels=[1, 9], compile=False, progress=False,
                    log=lambda s: None)
    assert str(e.value) == "--patch-levels 9 is outside this model's levels 0..5."


def test_an_update_the_index_refuses_is_refused_before_the_model_loads(built, corpus, monkeypatch):
    """Another checkpoint, or no F1 into an index that stores it, is known from the files and the index alone."""
    import midi_rae.checkpoint
    from midi_rae.checkpoint_meta import ASSETS
    from midi_rae.index import build_index

    def never(*a, **k):
        raise AssertionError("the model was loaded")

    out, _ = built
    monkeypatch.setattr(midi_rae.checkpoint, "load_model", never)
    quiet = dict(compile=False, progress=False, log=lambda s: None)
    other = str(Path(ASSETS) / "first.safetensors")
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"]], out, other, **quiet)
    assert str(e.value) == (f"The index at {out} was built with another checkpoint (shipped default); choose "
                            "another --out, or --rebuild it with this one.")
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"]], out, reconstruction=False, **quiet)
    assert str(e.value) == (f"The index at {out} stores reconstruction F1 and this run would add pieces without "
                            "it; run without --no-reconstruction, or --rebuild it.")
    with pytest.raises(ValueError) as e:  # was "6 unchanged", and level 5 never stored
        build_index([corpus["src"]], out, patch_levels=[5], **quiet)
    assert str(e.value) == (f"The index at {out} stores the patch embeddings of levels 1, 2; an update cannot "
                            "change them (its unchanged pieces are not encoded again): leave out --patch-levels, or "
                            "--rebuild it with them.")


def test_an_index_whose_checkpoint_file_has_changed_since_says_so_not_another_checkpoint(tmp_path, corpus):
    import shutil

    from midi_rae.checkpoint_meta import ASSETS
    from midi_rae.index import build_index

    out, ckpt = tmp_path / "index", tmp_path / "run" / "best.safetensors"
    ckpt.parent.mkdir()
    shutil.copy(Path(ASSETS) / "first.safetensors", ckpt)
    quiet = dict(compile=False, progress=False, log=lambda s: None)
    build_index([corpus["src"] / "alpha"], out, str(ckpt), **quiet)
    shutil.copy(Path(ASSETS) / "default.safetensors", ckpt)  # the run went on and saved a better one
    with pytest.raises(ValueError) as e:
        build_index([corpus["src"] / "alpha"], out, str(ckpt), **quiet)
    assert str(e.value) == (f"The index at {out} was built with an earlier version of {ckpt.resolve()}: the file has "
                            "changed since (a training run, for one, rewrites its best.safetensors as it improves); "
                            "--rebuild the index with this version, or choose another --out.")


def cli_imports(args: list[str], modules: tuple[str, ...]) -> subprocess.CompletedProcess:
    """`midi-rae ARGS` in a fresh interpreter, printing its exit status and whether each module was imported."""
    code = ("import sys; from midi_rae.__main__ import main; "
            f"rc = main({args!r}); print(rc, *(m in sys.modules for m in {modules!r}))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_cli_refuses_another_checkpoint_for_an_index_before_importing_torch(built, corpus):
    out, _ = built
    r = cli_imports(["index", str(corpus["src"]), "--out", str(out), "--checkpoint", "assets/first.safetensors"],
                    ("torch",))
    assert r.stdout.split() == ["1", "False"]
    assert r.stderr.startswith(f"error: The index at {out} was built with another checkpoint")


def test_an_update_without_a_checkpoint_goes_on_with_the_one_the_index_was_built_with(corpus, tmp_path):
    out = tmp_path / "index"
    run = lambda *a: subprocess.run([sys.executable, "-m", "midi_rae", *a], cwd=ROOT, capture_output=True,  # noqa
                                    text=True, timeout=300)
    first = ROOT / "assets" / "first.safetensors"
    r = run("index", str(corpus["src"] / "alpha"), "--out", str(out), "--checkpoint", str(first), "--no-compile",
            "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    r = run("index", str(corpus["src"] / "alpha"), "--out", str(out), "--no-compile", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unchanged"] == 4
    assert r.stderr.strip() == f"note: updating with the checkpoint the index was built with, {first}."


def test_a_search_at_a_level_the_index_lacks_is_refused_before_torch_or_lancedb_load(built, corpus):
    out, _ = built
    r = cli_imports(["search", str(out), "--query", str(corpus["query"]), "--level", "9"], ("torch", "lancedb"))
    assert r.stdout.split() == ["1", "False", "False"]
    assert r.stderr.strip() == "error: --level 9 is outside the index's levels 0..5."


def test_a_search_without_a_bar_queries_a_late_starting_piece_where_its_first_note_is(built, tmp_path):
    import argparse

    import pretty_midi

    from midi_rae.index import CorpusIndex
    from midi_rae.index_cli import _query

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60 + i % 5, 60.0 + 0.5 * i, 60.4 + 0.5 * i) for i in range(32)]
    pm.instruments.append(inst)
    query = tmp_path / "late.mid"
    query.write_bytes(to_bytes(pm))
    a = argparse.Namespace(query=str(query), bar=None, level=None, patch=None)
    _, bar, note = _query(a, CorpusIndex(built[0]))
    assert bar == 31 and note == "the window at bar 1 of late.mid holds no note: bar 31, whose window holds the " \
                                 "first note, is searched."


def test_cli_index_and_search(corpus, tmp_path):
    out = tmp_path / "index"
    run = lambda *a: subprocess.run([sys.executable, "-m", "midi_rae", *a], cwd=ROOT, capture_output=True,  # noqa
                                    text=True, timeout=300)
    r = run("index", str(corpus["src"] / "alpha"), "--out", str(out), "--no-compile", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["added"] == 4 and summary["windows"] > 0
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3", "-k", "2", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["piece"] == "planted" and hits[0]["start_bar"] == 5.0
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3", "--level", "4", "--patch", "0,0")
    assert r.returncode == 1 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3", "--patch", "1,1", "-k", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["level"] == 2  # the finest level whose patches it stores
    # the query is 12 bars and a window 8: its last window starts at bar 5, as on the piece page
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "9", "-k", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["bar"] == 5 and r.stderr.strip() == (
        "note: bar 9 is past the last bar a window of query.mid starts at (a window from there would hold bars of "
        "silence): bar 5 is searched.")
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "999", "-k", "1", "--json")  # past its end
    assert r.returncode == 0 and json.loads(r.stdout)["bar"] == 5 and "bar 999 is past the last bar" in r.stderr
    r = run("search", str(out), "--query", str(corpus["query"]), "--level", "9")  # refused before the model loads
    assert r.returncode == 1 and r.stderr.strip() == "error: --level 9 is outside the index's levels 0..5."
    # another model's embeddings: refused, unless asked for
    first = ROOT / "assets" / "first.safetensors"
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3", "--checkpoint", str(first))
    assert r.returncode == 1 and r.stderr.strip().startswith(
        f"error: {first} is not the checkpoint {out} was built with (") and r.stderr.strip().endswith(
        "so its similarities would mean nothing; pass that checkpoint with --checkpoint (or --any-model to search "
        "anyway).")
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3", "--checkpoint", str(first),
            "--any-model")
    assert r.returncode == 0 and r.stderr.strip().endswith("; the similarities compare two models' embeddings.")
    r = run("search", str(out), "--query", str(corpus["query"]), "-k", "1000000000")  # past what lancedb takes
    assert r.returncode == 2 and r.stderr.strip().endswith("argument -k: 1000000000 is not in 1..10000 "
                                                           "(see 'midi-rae search --help')")
    (tmp_path / "empty.mid").write_bytes(b"")
    r = run("search", str(out), "--query", str(tmp_path / "empty.mid"))
    assert r.returncode == 1 and r.stderr.strip() == "error: empty.mid: The file is empty."
    r = run("search", str(out), "--query", str(tmp_path))
    assert r.returncode == 1 and r.stderr.strip() == (f"error: {tmp_path} is a folder; --query takes one MIDI or "
                                                      "PNG file.")
    os.mkfifo(tmp_path / "pipe.mid")  # would block a reader forever
    r = run("search", str(out), "--query", str(tmp_path / "pipe.mid"))
    assert r.returncode == 1 and r.stderr.strip() == (f"error: {tmp_path / 'pipe.mid'} is not a regular file; "
                                                      "--query takes one MIDI or PNG file.")
    r = run("index", str(tmp_path / "alhpa"), "--out", str(out), "--no-compile", "--quiet")
    assert r.returncode == 1 and r.stderr.strip() == (f"error: Nothing was indexed or changed: {tmp_path / 'alhpa'} "
                                                      "does not exist.")
    r = run("search", str(tmp_path / "nothing"), "--query", str(corpus["query"]))
    assert r.returncode == 1 and r.stderr.strip() == f"error: {tmp_path / 'nothing'} does not exist."
    r = run("search", str(tmp_path), "--query", str(corpus["query"]), "--bar", "3")  # the folder holding the index
    assert r.returncode == 1 and r.stderr.strip() == f"error: {tmp_path} is not an index, but {out} is: search that folder."
    for f in (out / "windows.lance" / "data").iterdir():  # the data files cut short, the manifests intact
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    r = run("search", str(out), "--query", str(corpus["query"]), "--bar", "3")
    assert r.returncode == 1 and r.stderr.strip() == (
        f"error: {out} is not a readable index: its Lance tables are damaged or incomplete (rebuild it with "
        "'midi-rae index --rebuild').")
    r = run("index", str(corpus["query"]), "--out", str(out), "--no-compile", "--quiet")  # an update reads it too
    assert r.returncode == 1 and r.stderr.strip() == (
        f"error: {out} is not a readable index: its Lance tables are damaged or incomplete (rebuild it with "
        "'midi-rae index --rebuild').")


def test_searching_an_index_that_holds_no_windows_says_why(corpus, tmp_path):
    from midi_rae.index import build_index

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "broken.mid").write_bytes(b"MThd this is not a midi file")
    build_index([tmp_path / "src"], tmp_path / "idx", compile=False, progress=False, log=lambda s: None)
    r = subprocess.run([sys.executable, "-m", "midi_rae", "search", str(tmp_path / "idx"), "--query",
                        str(corpus["query"])], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.strip() == (f"error: {tmp_path / 'idx'} holds no windows: the 1 file it "
                                                      "lists could not be read.")


@pytest.mark.slow
def test_ray_local_run_writes_the_same_store(corpus, tmp_path):
    pytest.importorskip("ray")
    from midi_rae.index import CorpusIndex, build_index
    from midi_rae.index_ray import build_index_ray

    out_ray, out_local = tmp_path / "ray", tmp_path / "local"
    loop = _notes(2, seed=7)  # a two-bar pattern played ten times: most of its windows repeat an earlier one
    _write(tmp_path / "rep" / "loop.mid", [(loop, 8 * k, 0) for k in range(10)])
    sources = [corpus["src"], tmp_path / "rep"]
    r = build_index_ray(sources, out_ray, address="local", log=lambda s: None)
    local = build_index(sources, out_local, compile=False, progress=False, log=lambda s: None)
    # each distinct window encoded once, as locally, and every window stored (a repeat took its first copy's numbers)
    assert r.added == 7 and len(r.failed) == 1 and r.windows == local.windows and r.encoded == local.encoded < r.windows
    a, b = CorpusIndex(out_ray), CorpusIndex(out_local)
    pa_, pb = a.pieces().set_index("path").sort_index(), b.pieces().set_index("path").sort_index()
    assert list(pa_["windows"]) == list(pb["windows"])
    wa = a.windows(["piece_id", "window", "f1_masked"]).sort_values(["piece_id", "window"])
    wb = b.windows(["piece_id", "window", "f1_masked"]).sort_values(["piece_id", "window"])
    assert np.allclose(wa["f1_masked"], wb["f1_masked"], atol=1e-4, equal_nan=True)
    r2 = build_index_ray(sources, out_ray, address="local", log=lambda s: None)
    # incremental on Ray too; the broken file stays listed, as failed again
    assert r2.unchanged == 7 and [Path(p).name for p, _ in r2.failed] == ["broken.mid"] and r2.windows == 0


@pytest.mark.slow
def test_compiled_step_matches_eager(bundle, corpus, tmp_path, monkeypatch):
    """The compiled index step (an AOTInductor package, kept in the cache folder and loaded from it by a second
    encoder) gives the eager step's numbers."""
    import torch

    from midi_rae.index import WindowEncoder, default_patch_levels
    from midi_rae.inference import piece_windows
    from midi_rae.pianoroll import midi_to_roll

    monkeypatch.setenv("MIDI_RAE_CACHE", str(tmp_path))
    x, _, _ = piece_windows(midi_to_roll(corpus["src"] / "alpha" / "planted.mid"))
    we = WindowEncoder(bundle, default_patch_levels(bundle.model_config), 0.6, batch_size=8, compile=True,
                       cache_key="test")
    assert we.compiled and we.package.is_file()
    again = WindowEncoder(bundle, default_patch_levels(bundle.model_config), 0.6, batch_size=8, compile=True,
                          cache_key="test")
    assert again.compiled and again.compile_seconds < we.compile_seconds / 10  # loaded, not built
    a, b = we(x[:5], use_compiled=False), again(x[:5], use_compiled=True)  # a short batch is padded
    for k in range(len(a["pooled"])):
        assert np.allclose(a["pooled"][k], b["pooled"][k], atol=1e-4)
    assert np.abs(a["masked"] - b["masked"]).sum() <= 5 and np.abs(a["plain"] - b["plain"]).sum() <= 5
    assert torch.get_num_threads() >= 1
    we.package.write_bytes(b"PK\x03\x04 cut short")  # a damaged package is built anew, not trusted
    rebuilt = WindowEncoder(bundle, default_patch_levels(bundle.model_config), 0.6, batch_size=8, compile=True,
                            cache_key="test")
    assert rebuilt.compiled and np.allclose(rebuilt(x[:5])["pooled"][0], a["pooled"][0], atol=1e-4)



def test_a_compiled_step_is_kept_apart_for_each_thing_built_into_it(bundle, tmp_path, monkeypatch):
    """A package built with the decoder (F1 stored) is never loaded by an encoder-only run, nor one built for other
    patch levels or another threshold: each would store another step's numbers."""
    import dataclasses

    from midi_rae.index import WindowEncoder

    monkeypatch.setenv("MIDI_RAE_CACHE", str(tmp_path))
    no_dec = dataclasses.replace(bundle, decoder=None)
    paths = [WindowEncoder(b, levels, thr, batch_size=8, cache_key="ck").package
             for b, levels, thr in [(bundle, [1, 2], 0.6), (no_dec, [1, 2], 0.6), (bundle, [1], 0.6),
                                    (bundle, [1, 2], 0.5)]]
    assert len(set(paths)) == 4 and all(p.parent == tmp_path / "compiled" for p in paths)
    assert WindowEncoder(bundle, [1, 2], 0.6, batch_size=8, cache_key="ck").package == paths[0]
    assert WindowEncoder(bundle, [1, 2], 0.6, batch_size=8).package is None  # no key: nothing cached

def test_the_shipped_index_ships_its_current_snapshot():
    """The Corpus page opens the shipped corpus without lancedb: its snapshot matches its tables."""
    from midi_rae.dashboard.corpus_sources import SHIPPED_INDEX
    from midi_rae.index_view import version_key

    assert (SHIPPED_INDEX / "view" / version_key(SHIPPED_INDEX) / "meta.json").is_file()


def test_a_column_of_near_copies_keeps_no_ivf_index_and_says_why(tmp_path):
    import lancedb
    import pyarrow as pa

    from midi_rae.index import ivf_index

    v = np.zeros((140_000, 8), np.float32)  # two distinct vectors: lance's k-means forms two clusters, not 374
    v[:, 0], v[:70_000, 1] = 1, 1
    table = lancedb.connect(tmp_path).create_table(
        "t", pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), 8)}))
    assert ivf_index(table, "vector", 374) == "its vectors form only 2 distinct clusters, too few for 374 partitions."
    assert table.list_indices() == []
    spread = np.random.default_rng(0).normal(size=(5_000, 8)).astype(np.float32)
    other = lancedb.connect(tmp_path).create_table(
        "u", pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(spread.ravel()), 8)}))
    assert ivf_index(other, "vector", 16) is None and len(other.list_indices()) == 1


def test_a_passage_in_a_piece_shorter_than_a_window_ends_where_its_piece_ends(tmp_path, bundle):
    from midi_rae.index import parse_source, search_passage

    short = _write(tmp_path / "src" / "short.mid", [(_notes(6, seed=3), 0, 0)])
    _write(tmp_path / "src" / "long.mid", [(_notes(10, seed=4), 0, 0)])
    quiet_build([tmp_path / "src"], tmp_path / "idx", bundle)
    top = search_passage(tmp_path / "idx", parse_source(short), bar=1, level=1, k=2, bundle=bundle)[0]
    assert (top.piece, top.start_step, top.end_step, top.end_bar) == ("short", 0, 96, 6.0)


def test_a_search_at_a_level_or_with_a_model_the_index_cannot_answer_is_one_sentence(built, corpus, tmp_path):
    from midi_rae.checkpoint import build_models, load_model, save_checkpoint
    from midi_rae.config import DEFAULT
    from midi_rae.index import search_passage

    with pytest.raises(ValueError, match=r"^The index has levels 0 to 5; there is no level 6 to search\.$"):
        search_passage(built[0], corpus["query"], bar=1, level=6)
    cfg = {**DEFAULT.to_dict(), "embed_dim": 16}
    save_checkpoint(tmp_path / "wide.safetensors", *build_models(cfg, "swin"), cfg)
    with pytest.raises(ValueError, match=r"^This model's level-3 embeddings have 64 dimensions and the index's have "
                                         r"32; search with the model the index was built with\.$"):
        search_passage(built[0], corpus["query"], bar=1, level=3, bundle=load_model(tmp_path / "wide.safetensors"))


def test_a_data_file_of_random_bytes_is_named_as_a_damaged_index():
    from midi_rae.index_view import damaged_store, unreadable

    lance = ValueError("Invalid input, file does not appear to be a Lance file (invalid magic: [76, 65, 78, 67])")
    assert damaged_store(lance)  # so `reading` and the commands name the index, not lance
    assert str(unreadable("idx", lance)) == ("idx is not a readable index: its Lance tables are damaged or incomplete "
                                            "(rebuild it with 'midi-rae index --rebuild').")


def test_an_object_store_that_cannot_be_reached_is_one_sentence():
    from midi_rae.index_cli import _store_error

    e = RuntimeError("lance error: LanceError(IO): Generic S3 error: Failed to resolve region for bucket 'nb', "
                     "/root/.cargo/registry/src/lance-io-13.0.0/src/object_store.rs:262:13")
    assert _store_error("s3://nb/idx", e) == ("the store at s3://nb/idx could not be opened (lance error: "
                                              "LanceError(IO): Generic S3 error: Failed to resolve region for "
                                              "bucket 'nb').")
    with pytest.raises(RuntimeError):  # not the store's: the code's, raised again
        _store_error("/tmp/idx", RuntimeError("something else"))
    full = OSError(28, "No space left on device")  # a full disk: said so, not "damaged, rebuild it"
    assert _store_error("/tmp/idx", full).startswith("the disk holding /tmp/idx is full: free some space")



def test_an_index_read_with_the_sustain_pedal_reads_its_queries_so_and_refuses_an_update_without_it(tmp_path,
                                                                                                   bundle):
    from midi_rae.index import CorpusIndex, build_index, search_passage

    path = _write(tmp_path / "src" / "pedalled.mid", [(_notes(12, seed=3), 0, 0)])
    pm = pretty_midi.PrettyMIDI(str(path))
    pm.instruments[0].control_changes += [pretty_midi.ControlChange(64, 127, 0.2), pretty_midi.ControlChange(64, 0, 9.0)]
    pm.write(str(path))
    out = tmp_path / "idx"
    build_index([tmp_path / "src"], out, bundle=bundle, compile=False, progress=False, log=lambda s: None,
                sustain_pedal=True)
    assert CorpusIndex(out).meta["sustain_pedal"] is True
    hits = search_passage(out, path, bar=1, level=2, k=1, bundle=bundle)
    assert hits[0].start_step == 0 and hits[0].similarity == pytest.approx(1.0, abs=1e-5)  # read as it was stored
    # the piece view leaves a piece's own window out of its search only where it read the file as the index did
    from types import SimpleNamespace

    from midi_rae.dashboard.corpus_similar import _own_passage
    from midi_rae.dashboard.sources import digest, roll_key
    from midi_rae.pianoroll import midi_to_roll

    index = CorpusIndex(out)
    for applied, expected in ((True, 1), (False, 0)):
        roll = midi_to_roll(path, sustain_pedal=applied)
        song = SimpleNamespace(key=(roll_key(digest(path.read_bytes()), roll), "model", 4, 0), roll=roll)
        assert len(_own_passage(index, song, 0)) == expected, applied
    with pytest.raises(ValueError, match=r"read its MIDI files with --sustain-pedal; update it the same way"):
        build_index([tmp_path / "src"], out, bundle=bundle, compile=False, progress=False, log=lambda s: None)


def test_an_index_without_a_pedalled_piece_takes_an_update_read_with_the_pedal_and_reads_so_from_then(tmp_path,
                                                                                                     bundle):
    from midi_rae.index import CorpusIndex, build_index, check_before_load

    _write(tmp_path / "src" / "plain.mid", [(_notes(12, seed=1), 0, 0)])
    out = tmp_path / "idx"
    build_index([tmp_path / "src"], out, bundle=bundle, compile=False, progress=False, log=lambda s: None)
    assert CorpusIndex(out).meta["pedal_pieces"] == 0
    pedalled = _write(tmp_path / "src" / "pedalled.mid", [(_notes(12, seed=3), 0, 0)])
    pm = pretty_midi.PrettyMIDI(str(pedalled))
    pm.instruments[0].control_changes += [pretty_midi.ControlChange(64, 127, 0.2), pretty_midi.ControlChange(64, 0, 9.0)]
    pm.write(str(pedalled))
    check_before_load(out, None, None, False, True, False, sustain_pedal=True)  # no refusal: nothing read differs
    report = build_index([tmp_path / "src"], out, bundle=bundle, compile=False, progress=False, log=lambda s: None,
                         sustain_pedal=True)
    assert report.added == 1 and report.unchanged == 1
    meta = CorpusIndex(out).meta
    assert meta["sustain_pedal"] is True and meta["pedal_pieces"] == 1
    with pytest.raises(ValueError, match=r"read its MIDI files with --sustain-pedal; update it the same way"):
        check_before_load(out, None, None, False, True, False, sustain_pedal=False)  # now a piece would differ


def test_a_query_an_octave_away_is_found_an_octave_away_not_at_its_nearest_pitch_class(corpus, built, bundle,
                                                                                          tmp_path):
    from midi_rae.index import search_passage

    passage = _notes(8, seed=99)  # the planted passage, as the corpus fixture plants it
    query = _write(tmp_path / "octave_down.mid",
                   [(_notes(2, seed=30), 0, -12), (passage, 8, -12), (_notes(2, seed=31), 40, -12)])
    hits = search_passage(built[0], query, bar=3, level=3, k=3, bundle=bundle, transposition_invariant=True)
    found = {(h.piece, h.start_bar): h for h in hits}
    assert found[("planted", 5.0)].interval == 12 and found[("planted", 5.0)].similarity > 0.999


def test_a_patch_search_without_a_level_compares_at_the_finest_level_whose_patches_the_index_stores():
    from midi_rae.index import search_level

    assert search_level(6, [1, 2], None, (1, 1)) == 2
    assert search_level(6, [1, 2], None, None) == 3  # a whole window: the middle level
    assert search_level(6, [1, 2], 4, (0, 0)) == 4  # a level named is the level searched



def test_a_full_disk_while_indexing_is_named_with_how_to_go_on():
    from midi_rae.index_cli import _store_error

    lance = RuntimeError("LanceError(IO): Generic LocalFileSystem error: Unable to write to file: No space left on "
                         "device (os error 28), /rustc/lance-io/src/object_writer.rs:120:9")
    assert _store_error("idx", lance) == ("the disk holding idx is full: free some space and run the same command "
                                          "again (the pieces written so far are kept, and the run goes on from them).")


def test_search_of_an_index_whose_first_run_never_committed_a_piece_says_to_finish_it(built, corpus, tmp_path):
    from midi_rae.index import CorpusIndex

    half = tmp_path / "half"
    shutil.copytree(built[0], half)
    CorpusIndex(half).table("pieces").delete("true")  # what a first run killed before its first commit leaves
    r = subprocess.run([sys.executable, "-m", "midi_rae", "search", str(half), "--query", str(corpus["query"]),
                        "--bar", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"error: {half} holds only the half-written windows of a first run that did not "
                                f"finish: run the same 'midi-rae index' command again to finish it.")


def test_a_run_stopped_after_its_last_commit_is_finished_by_the_next_run_though_nothing_changed(built, corpus, bundle,
                                                                                                 tmp_path):
    from midi_rae.index import CorpusIndex, build_index

    out = tmp_path / "stopped"
    shutil.copytree(built[0], out)
    CorpusIndex(out).set_meta(pieces=1, windows=1)  # as the run before the stopped one recorded them
    report = build_index([corpus["src"]], out, bundle=bundle, compile=False, progress=False, log=lambda s: None)
    idx = CorpusIndex(out)
    assert report.unchanged == 6 and report.added == 0
    assert (idx.meta["pieces"], idx.meta["windows"]) == (idx.count("pieces"), idx.count("windows"))


def test_ctrl_c_while_the_update_is_recorded_keeps_every_piece_and_says_the_next_run_finishes_it(corpus, bundle,
                                                                                                   tmp_path, monkeypatch):
    from midi_rae.index import CorpusIndex, build_index, recorded

    out = tmp_path / "index"
    quiet = dict(bundle=bundle, compile=False, progress=False, log=lambda s: None)

    def stopped(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(CorpusIndex, "compact", stopped)  # Ctrl-C at 100 %: the last commit done, compaction under way
    report = build_index([corpus["src"] / "alpha"], out, **quiet)
    assert (report.interrupted, report.unrecorded, report.kept) == (True, True, 4)
    assert CorpusIndex(out).count("pieces") == 4 and not recorded(CorpusIndex(out))
    monkeypatch.undo()
    again = build_index([corpus["src"] / "alpha"], out, **quiet)
    assert (again.unchanged, again.added, again.interrupted) == (4, 0, False) and recorded(CorpusIndex(out))


def test_the_cli_says_a_run_stopped_while_recording_kept_every_piece(capsys):
    from midi_rae import index_cli
    from midi_rae.index import BuildReport

    report = BuildReport(out="idx", added=3, windows=120, interrupted=True, unrecorded=True, kept=3)
    assert index_cli.print_report(report) == 130
    assert capsys.readouterr().out.strip() == ("idx: interrupted after every piece of this run was stored (3 pieces, "
                                               "120 windows), before the update was recorded; run the same command "
                                               "again to finish it.")


def test_a_search_for_many_hits_fetches_their_windows_in_queries_of_bounded_size(built, corpus, bundle, monkeypatch):
    """A filter of thousands of ORs overflowed the store's parser (-k 6000 died with SIGSEGV): the hits' windows
    are fetched a bounded number at a time, and the hits are the same."""
    from midi_rae import index as index_mod
    from midi_rae.index import search_passage

    whole = search_passage(built[0], corpus["query"], bar=3, level=3, k=40, bundle=bundle, distinct=False)
    monkeypatch.setattr(index_mod, "HIT_QUERY_TERMS", 3)
    filters = []
    real_table = index_mod.CorpusIndex.table

    def spying_table(self, name):
        table = real_table(self, name)
        if name == "windows":
            real_search = table.search

            def search(*a, **k):
                query = real_search(*a, **k)
                real_where = query.where
                query.where = lambda cond, *aa, **kk: (filters.append(cond), real_where(cond, *aa, **kk))[1]
                return query
            table.search = search
        return table

    monkeypatch.setattr(index_mod.CorpusIndex, "table", spying_table)
    parts = search_passage(built[0], corpus["query"], bar=3, level=3, k=40, bundle=bundle, distinct=False)
    assert [(h.path, h.window, h.similarity) for h in parts] == [(h.path, h.window, h.similarity) for h in whole]
    ors = [f.count(" OR ") + 1 for f in filters if "window =" in f]
    assert len(whole) > 3 and ors and max(ors) <= 3
