"""While no page runs, the bundled examples are read and encoded into the page's own caches."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, make_song
from midi_rae.dashboard.prefetch import THREAD

PREFETCH = """
import sys, time
from midi_rae.checkpoint import load_model
from midi_rae.inference import MaskSettings
from midi_rae.dashboard import activity, loaders, prefetch, sources
from midi_rae.dashboard.model_views import Model

model = Model("default", "shipped default", load_model(None))
calls = []
real = loaders.encode_piece
loaders.encode_piece = lambda *a, **k: calls.append(1) or real(*a, **k)
activity.note()  # a page has just run
prefetch.IDLE_S = {idle}
prefetch.request(model, 4, 0, {pedal})
time.sleep({wait})
print("encoded", len(calls))
for path in sources.example_files():  # what picking each good example asks the caches for
    if path.name == "broken.mid":
        continue
    data = path.read_bytes(); key = sources.digest(data)
    roll = sources.load_roll(key, data, 4, 0, path.name, {pedal})
    loaders.encode_song(sources.roll_key(key, roll), "default", 4, 0, roll, model.bundle)
    loaders.analyse(sources.roll_key(key, roll), "default", 4, 0, 0, MaskSettings(), roll, model.bundle)
print("encoded", len(calls))
"""


def _run(tmp_path, idle: float, wait: float, pedal: bool = False) -> list[str]:
    import pretty_midi

    for i in range(2):
        song = make_song(bars=8, seed=i)
        song.instruments[0].control_changes += [pretty_midi.ControlChange(64, 127, 0.3),
                                                pretty_midi.ControlChange(64, 0, 6.0)]
        song.write(str(tmp_path / f"example_{i}.mid"))
    (tmp_path / "broken.mid").write_bytes(b"MThd not a MIDI file")
    env = {"MIDI_RAE_EXAMPLES": str(tmp_path), "MIDI_RAE_THREADS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", PREFETCH.format(idle=idle, wait=wait, pedal=pedal)], cwd=ROOT,
                            env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"Thread '{THREAD}'" not in result.stderr  # its cached calls outside a page's run warn nothing
    return result.stdout.split("\n")[:2]


def test_examples_are_encoded_once_the_page_is_idle_and_picking_one_then_encodes_nothing(tmp_path):
    assert _run(tmp_path, idle=0.2, wait=20) == ["encoded 2", "encoded 2"]


def test_with_the_sustain_pedal_on_the_examples_are_prepared_as_the_page_reads_them(tmp_path):
    assert _run(tmp_path, idle=0.2, wait=20, pedal=True) == ["encoded 2", "encoded 2"]


def test_a_transposed_view_prepares_nothing(monkeypatch):
    from midi_rae.dashboard import prefetch

    monkeypatch.setenv(prefetch.ENV, "1")
    before = prefetch._wanted[0]
    prefetch.request(object(), 4, 3)
    assert prefetch._wanted[0] is before


def test_midi_rae_prefetch_0_turns_it_off(monkeypatch):
    from midi_rae.dashboard import prefetch

    monkeypatch.setenv(prefetch.ENV, "0")
    before = prefetch._wanted[0]
    prefetch.request(object(), 4, 0)
    assert prefetch._wanted[0] is before


def test_nothing_is_prepared_while_pages_keep_running(tmp_path):
    assert _run(tmp_path, idle=600, wait=2) == ["encoded 0", "encoded 2"]


def test_the_prefetch_thread_outlives_a_request_that_fails(monkeypatch):
    import threading

    from midi_rae.dashboard import prefetch

    seen, second = [], threading.Event()

    def prepare(wanted):
        seen.append(wanted)
        if len(seen) == 1:
            raise OSError("the examples folder went away")
        second.set()

    monkeypatch.setattr(prefetch, "_prepare", prepare)
    monkeypatch.setenv(prefetch.ENV, "1")
    prefetch.request(object(), 4, 0)
    for _ in range(100):  # the first request taken up (and failed) before the second is made
        if seen:
            break
        threading.Event().wait(0.05)
    prefetch.request(object(), 5, 0)
    assert second.wait(10) and seen[-1][1] == 5


def test_a_run_in_progress_is_never_idle_however_long_it_takes():
    import time

    from midi_rae.dashboard import activity

    with activity.running():
        time.sleep(0.3)
        assert activity.idle_for() == 0.0
        assert activity.quiet_for() >= 0.3  # what a paused import waits on: the run's start, not its end
    assert 0.0 <= activity.idle_for() < 0.3
