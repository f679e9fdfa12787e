"""The server imports the pages' heavy modules as it starts, and `streamlit run` serves the dashboard that way."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_a_session_without_a_warm_up_waits_for_nothing():
    result = _fresh(
        "import sys, time\n"
        "from midi_rae.dashboard import warmup\n"
        "t = time.monotonic(); warmup.wait('corpus')\n"
        "print(round(time.monotonic() - t, 1), 'torch' in sys.modules)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.0", "False"]


def test_each_stage_is_imported_once_its_wait_returns_and_torch_is_left_to_the_piece_page():
    result = _fresh(
        "import sys, threading\n"
        "from midi_rae.dashboard import warmup\n"
        "warmup.start(); warmup.start()\n"
        "warmup.wait('overview'); print('page', 'midi_rae.dashboard.page' in sys.modules)\n"
        "warmup.wait('corpus'); print('corpus', 'midi_rae.dashboard.corpus_page' in sys.modules)\n"
        "warmup._thread.join(); print('torch', 'torch' in sys.modules)\n"
        "print('threads', sum(t.name == 'midi-rae-warmup' for t in threading.enumerate()))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["page True", "corpus True", "torch False", "threads 0"]


def test_a_stage_that_fails_to_import_does_not_hold_up_the_page():
    result = _fresh(
        "import sys\n"
        "from midi_rae.dashboard import warmup\n"
        "warmup.STAGES['overview'] = ('midi_rae.no_such_module',)\n"
        "warmup.start(); warmup.wait('overview'); warmup.wait('corpus')\n"
        "print('midi_rae.dashboard.corpus_page' in sys.modules)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def test_streamlit_run_serves_both_entry_points_as_an_app_with_the_warm_up():
    from streamlit.web.server.app_discovery import discover_asgi_app

    for server in ("app/main.py", "midi_rae/dashboard/main.py"):
        assert discover_asgi_app(ROOT / server).is_asgi_app, server  # else streamlit runs it as a page script
        result = _fresh(  # st.App keeps its arguments as private attributes; a fresh process keeps it the only one
            "import runpy\n"
            "from midi_rae.dashboard import warmup\n"
            f"app = runpy.run_path('{server}')['app']\n"
            "print(app._user_lifespan is warmup.lifespan, str(app._script_path) == warmup.SCRIPT)\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["True", "True"], server
