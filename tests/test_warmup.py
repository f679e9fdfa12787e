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


def test_each_stage_is_imported_once_its_wait_returns_and_torch_only_once_wanted():
    result = _fresh(
        "import sys, threading, time\n"
        "from midi_rae.dashboard import warmup\n"
        "warmup.start(); warmup.start()\n"
        "warmup.wait('overview'); print('page', 'midi_rae.dashboard.page' in sys.modules)\n"
        "warmup.wait('corpus'); print('corpus', 'midi_rae.dashboard.corpus_page' in sys.modules)\n"
        "time.sleep(1); print('torch', 'torch' in sys.modules)\n"
        "warmup.model(); print('model', 'midi_rae.dashboard.model_views' in sys.modules, 'torch' in sys.modules)\n"
        "warmup._thread.join(); print('threads', sum(t.name == 'midi-rae-warmup' for t in threading.enumerate()))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["page True", "corpus True", "torch False", "model True True", "threads 0"]


def test_once_the_piece_page_is_asked_for_torch_comes_before_the_corpus_pages_modules():
    from midi_rae.dashboard import warmup

    try:
        warmup._wanted["model"].clear()
        assert warmup._next_stage(["overview", "corpus", "model"]) == "overview"
        assert warmup._next_stage(["corpus", "model"]) == "corpus"
        warmup.want("model")
        assert warmup._next_stage(["overview", "corpus", "model"]) == "overview"  # the page needs it first
        assert warmup._next_stage(["corpus", "model"]) == "model"
    finally:
        warmup._wanted["model"].clear()


def test_the_warm_up_also_does_what_a_first_page_would_do_once_per_process():
    """PIL for the favicon, and Streamlit's one check before a first element (`inspect.stack()`, ~0.1 s)."""
    result = _fresh(
        "import sys\n"
        "from streamlit import delta_generator\n"
        "from midi_rae.dashboard import warmup\n"
        "print('PIL.Image' in sys.modules, delta_generator._use_warning_has_been_displayed)\n"
        "warmup.start(); warmup.wait('overview')\n"
        "print('PIL.Image' in sys.modules, delta_generator._use_warning_has_been_displayed)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False False", "True True"]


def test_a_request_for_the_piece_page_and_only_that_lets_the_model_stage_begin():
    import asyncio

    from midi_rae.dashboard import warmup

    async def downstream(scope, receive, send):
        return None

    def wanted_after(method: str, path: str) -> bool:
        warmup._wanted["model"].clear()
        asyncio.run(warmup.PageRequests(downstream)({"type": "http", "method": method, "path": path}, None, None))
        return warmup._wanted["model"].is_set()

    try:
        assert [wanted_after("GET", p) for p in ("/", "/piece", "/piece/", "/base/piece")] == [True] * 4
        assert [wanted_after("GET", p) for p in ("/corpus", "/static/js/index.js", "/_stcore/health",
                                                 "/_stcore/stream")] == [False] * 4
        assert not wanted_after("POST", "/")
        from streamlit import config

        config.set_option("server.baseUrlPath", "explorer")  # a server under a path of its own
        assert [wanted_after("GET", p) for p in ("/explorer", "/explorer/", "/explorer/piece")] == [True] * 3
        assert not wanted_after("GET", "/explorer/corpus")
    finally:
        from streamlit import config

        config.set_option("server.baseUrlPath", "")
        warmup._wanted["model"].clear()


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


def test_a_page_drawn_without_torch_holds_the_model_stage_until_a_page_needs_torch():
    result = _fresh(
        "import sys, time\n"
        "from midi_rae.dashboard import activity, warmup\n"
        "warmup.HOLD_IDLE_S, warmup.HOLD_MAX_S = 30.0, 60.0\n"
        "warmup.start(); warmup.wait('overview')\n"
        "activity.note(); warmup.hold_model(); warmup.want('model')\n"
        "time.sleep(0.8); print('held', 'torch' in sys.modules)\n"
        "warmup.model(); print('needed', 'torch' in sys.modules)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["held False", "needed True"]


def test_a_held_model_stage_goes_on_once_the_server_has_been_idle_for_a_while():
    result = _fresh(
        "import sys, time\n"
        "from midi_rae.dashboard import activity, warmup\n"
        "warmup.HOLD_IDLE_S, warmup.HOLD_MAX_S = 1.0, 60.0\n"
        "warmup.start(); warmup.wait('overview')\n"
        "activity.note(); warmup.hold_model(); warmup.want('model'); t = time.monotonic()\n"
        "time.sleep(0.5); print('held', 'torch' in sys.modules)\n"
        "warmup.wait('model'); print('went on', 'torch' in sys.modules, 1.0 <= time.monotonic() - t < 30)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["held False", "went on True True"]


def test_with_views_kept_a_request_for_the_piece_page_leaves_torch_to_the_pages_run(tmp_path, monkeypatch):
    """The page may draw a kept view without torch: its run asks for torch or holds it; DEFER_S is the longest wait."""
    import time

    from midi_rae.dashboard import warmup

    monkeypatch.setenv("MIDI_RAE_VIEW_STORE", "1")
    monkeypatch.setenv("MIDI_RAE_CACHE", str(tmp_path))
    monkeypatch.setattr(warmup, "DEFER_S", 0.3)
    try:
        warmup._wanted["model"].clear()
        warmup.page_requested()
        assert warmup._wanted["model"].is_set()  # nothing kept: the import begins at once
        warmup._wanted["model"].clear()
        monkeypatch.setattr(warmup, "_deferred", [False])
        (tmp_path / "views").mkdir()
        (tmp_path / "views" / "window-0.npz").write_bytes(b"")
        warmup.page_requested()
        warmup.page_requested()  # the page's second request (a reload) changes nothing
        assert not warmup._wanted["model"].is_set()
        assert warmup._wanted["model"].wait(5)  # no page asked within DEFER_S: it begins anyway
    finally:
        time.sleep(0.1)
        warmup._wanted["model"].clear()
