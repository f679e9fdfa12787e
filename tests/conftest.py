"""Shared fixtures: paths to ../shared and small real MIDI files made with pretty_midi."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest

# The piece page prepares the bundled examples while no page runs (dashboard/prefetch.py). In this process the
# "idle" spells are other tests' work, which it would compete with; tests/test_prefetch.py turns it on where it is
# the subject (its subprocesses are given their own environment).
os.environ.setdefault("MIDI_RAE_PREFETCH", "0")
# Nor does it keep the views it draws on disk for a later server's first page (dashboard/view_store.py): a page test
# then always computes what it shows; tests/test_view_store.py turns the store on, in a folder of its own.
os.environ.setdefault("MIDI_RAE_VIEW_STORE", "0")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "original-format"


def needs_fixtures():
    """Skip marker for tests that read ../shared (present in CI)."""
    return pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not beside the checkout")


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    """Run `code` from the repo root in a fresh interpreter where importing torch fails."""
    return subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None\n" + code],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def make_song(bars: int = 16, tempo: float = 120.0, seed: int = 0, drums: bool = True) -> pretty_midi.PrettyMIDI:
    """A small real song: a melody, a bass line, chords and (optionally) drums, `bars` 4/4 bars long."""
    import random

    rng = random.Random(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60.0 / tempo
    piano, bass = pretty_midi.Instrument(0, name="piano"), pretty_midi.Instrument(33, name="bass")
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    for b in range(bars):
        root = [0, 5, 7, 0][b % 4]
        t0 = b * 4 * beat
        for p in (48 + root, 52 + root, 55 + root):  # a held chord per bar
            piano.notes.append(pretty_midi.Note(80, p, t0, t0 + 4 * beat))
        for k in range(8):  # eighth-note melody
            p = 72 + scale[rng.randrange(len(scale))]
            piano.notes.append(pretty_midi.Note(90, p, t0 + k * beat / 2, t0 + (k + 1) * beat / 2))
        for k in range(4):
            bass.notes.append(pretty_midi.Note(90, 36 + root, t0 + k * beat, t0 + (k + 0.9) * beat))
    pm.instruments += [piano, bass]
    if drums:
        kit = pretty_midi.Instrument(0, is_drum=True, name="drums")
        for k in range(bars * 4):
            kit.notes.append(pretty_midi.Note(100, 36 if k % 2 == 0 else 38, k * beat, k * beat + 0.1))
        pm.instruments.append(kit)
    return pm


from midi_rae.pianoroll import midi_bytes as to_bytes  # noqa: E402  (the tests' name for it)


@pytest.fixture
def song_path(tmp_path: Path) -> Path:
    """A 16-bar song written to a .mid file."""
    p = tmp_path / "song.mid"
    p.write_bytes(to_bytes(make_song()))
    return p


def live_figures(at) -> dict[str, dict]:
    """The figures of an AppTest run's live charts (midi_rae.dashboard.live_chart) by key, as plotly JSON."""
    import json

    out = {}
    for c in at.get("bidi_component"):
        if c.proto.component_name == "midi_rae_live_plotly":
            d = json.loads(c.proto.json)
            out[c.proto.id.rsplit("-", 1)[-1]] = {"data": [json.loads(t) for t in d["traces"]],
                                                  "layout": json.loads(d["layout"])}
    return out


def chart_specs(at) -> list[str]:
    """Each chart's plotly JSON as an AppTest run sent it to the browser: Streamlit's charts (not the piece page's
    empty warm-up chart), then the live ones."""
    import json

    streamlit_charts = [c.proto.spec for c in at.get("plotly_chart") if json.loads(c.proto.spec).get("data")]
    return streamlit_charts + [json.dumps(f) for f in live_figures(at).values()]
