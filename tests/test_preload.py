"""A page's HTML names the chart modules that page draws first, so the browser loads them with Streamlit's own."""
from __future__ import annotations

import asyncio
import urllib.request

import pytest

from midi_rae.dashboard import preload


def _served(path: str, content_type: bytes = b"text/html", status: int = 200, method: str = "GET") -> dict:
    """The headers ChartPreload sends for a response of `content_type` to a request for `path`."""
    sent = []

    async def downstream(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        sent.append(message)

    asyncio.run(preload.ChartPreload(downstream)({"type": "http", "method": method, "path": path}, None, send))
    return dict(sent[0]["headers"])


def test_a_pages_modules_are_its_components_and_all_they_import_that_the_app_has_not():
    js = preload._static_js()
    names = preload.modules(("ArrowVegaLiteChart", "Slider"))
    shell = set().union(*(preload._graph(js, p.name) for p in js.glob("index.*.js")))
    assert names[0].startswith("ArrowVegaLiteChart.") and any(n.startswith("Slider.") for n in names)
    assert all((js / n).is_file() for n in names) and len(set(names)) == len(names)
    assert not shell & set(names)
    assert all(set(preload._static_imports(js / n)) <= set(names) | shell for n in names)  # nothing left to fetch


def test_a_component_this_streamlit_build_does_not_have_is_left_out():
    assert preload.modules(("NoSuchChart",)) == ()
    assert preload.modules(("NoSuchChart", "Slider")) == preload.modules(("Slider",))
    assert preload.link_header("nowhere", "/") is None


def test_each_pages_html_carries_its_link_header_and_nothing_else_does():
    link = _served("/corpus").get(b"link", b"").decode()
    assert link.split(", ") == [f"</static/js/{n}>; rel=modulepreload"
                                for n in preload.modules(preload.PAGE_BUNDLES["corpus"])]
    for piece in ("/", "/piece"):
        assert _served(piece).get(b"link", b"").decode().split(", ") == [
            f"</static/js/{n}>; rel=modulepreload" for n in preload.modules(preload.PIECE_BUNDLES)]
    assert b"link" not in _served("/static/js/index.js") and b"link" not in _served("/_stcore/health")
    assert b"link" not in _served("/corpus", content_type=b"application/javascript")
    assert b"link" not in _served("/corpus", status=304)
    assert b"link" not in _served("/corpus", method="POST")


def test_under_a_base_url_path_the_modules_are_named_under_it():
    from streamlit import config

    config.set_option("server.baseUrlPath", "explorer")
    try:
        link = _served("/explorer/corpus").get(b"link", b"").decode()
    finally:
        config.set_option("server.baseUrlPath", "")
    assert link.startswith("</explorer/static/js/ArrowVegaLiteChart.")


@pytest.mark.timeout(180)
def test_streamlit_run_sends_each_pages_header_with_it():
    import browser_util as bu

    port = bu.free_port()
    proc = bu.start_server(port)
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/corpus", timeout=30) as r:
            link = r.headers.get("link", "")
        with urllib.request.urlopen(f"http://localhost:{port}/", timeout=30) as r:
            root_link = r.headers.get("link")
    finally:
        bu.stop_server(proc)
    assert "/static/js/ArrowVegaLiteChart." in link and "/static/js/BidiComponent." not in link
    assert "/static/js/BidiComponent." in root_link and "/static/js/ArrowVegaLiteChart." not in root_link
