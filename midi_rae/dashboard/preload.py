"""Tell the browser, with the page's own HTML, which chart library that page draws with first.

Streamlit's frontend loads a chart library's bundle (an ES module and the modules it imports) only when the first
chart of that kind reaches the browser, ~1.5 s after the page's HTML, once Streamlit's own scripts have loaded and
the page's script has run. A `Link: <…>; rel=modulepreload` header on the HTML response lets the browser fetch and
compile those modules alongside Streamlit's own scripts instead. The modules are found in Streamlit's static
folder by their component's name; where that name is not found (another Streamlit build), no header is sent and
the page loads as before.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Optional

# the frontend modules a page's first elements need that the browser would otherwise ask for late, by the last segment
# of the page's URL path. The Corpus page's map is drawn right after the page's script starts: its modules, loaded
# with Streamlit's own, drew it 0.13 s sooner (median of 5, quiet); preloading its widgets' modules too delayed
# Streamlit's own scripts more than it gained. The piece page's charts are custom components (the rolls, the PCA)
# drawn with plotly.js: while the page waited for torch, preloading their modules changed nothing (6.89 -> 6.84 s);
# drawn from the view store without torch, the browser is what it waits for, and with them preloaded its first
# render went 4.74 -> 4.48 s (medians of 4, interleaved; 5.75 -> 5.91 s, within the spread, where it waits for torch).
PIECE_BUNDLES = ("BidiComponent", "PlotlyChart")
PAGE_BUNDLES = {"corpus": ("ArrowVegaLiteChart",), "": PIECE_BUNDLES, "piece": PIECE_BUNDLES}
_IMPORT = re.compile(rb'''(?:import|from)\s*["'](\./[\w.\-]+\.js)["']''')
MAX_MODULES = 200  # a header longer than this would be a sign of a build unlike the one this was written for


def _static_js() -> Path:
    import streamlit

    return Path(streamlit.__file__).resolve().parent / "static" / "static" / "js"


def _static_imports(path: Path) -> list[str]:
    """File names that module `path` imports statically (`import … from "./x.js"`), in order."""
    try:
        text = path.read_bytes()
    except OSError:
        return []
    return [m.decode()[2:] for m in _IMPORT.findall(text)]


def _graph(js: Path, entry: str) -> list[str]:
    """`entry` and every module it imports statically, transitively, entry first."""
    seen, todo = [], [entry]
    while todo:
        name = todo.pop(0)
        if name in seen or not (js / name).is_file():
            continue
        seen.append(name)
        todo.extend(_static_imports(js / name))
    return seen


@functools.lru_cache(maxsize=None)
def _shell() -> frozenset[str]:
    """What the app's own entry scripts import (the browser loads those anyway)."""
    js = _static_js()
    return frozenset().union(*(_graph(js, p.name) for p in js.glob("index.*.js")))


@functools.lru_cache(maxsize=None)
def modules(components: tuple[str, ...]) -> tuple[str, ...]:
    """The static-folder file names of each component's module and what it imports, minus the app's own; a
    component this Streamlit build does not have is left out."""
    js = _static_js()
    out: list[str] = []
    for component in components:
        entries = sorted(js.glob(f"{component}.*.js"))
        if len(entries) == 1:
            out += [m for m in _graph(js, entries[0].name) if m not in _shell() and m not in out]
    return tuple(out) if len(out) <= MAX_MODULES else ()


def link_header(page: str, base: str) -> Optional[bytes]:
    """The `Link` header value for page `page` (its URL path's last segment) served under `base` ("/" or
    "/prefix/"), or None when that page draws no chart first."""
    names = modules(PAGE_BUNDLES.get(page, ()))
    if not names:
        return None
    return ", ".join(f"<{base}static/js/{n}>; rel=modulepreload" for n in names).encode()


def base_path() -> str:
    """The server's base URL path with slashes at both ends ("/" without one)."""
    from streamlit import config

    inner = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{inner}/" if inner else "/"


def page_name(path: str, base: Optional[str] = None) -> str:
    """The last segment of a request's path below the server's base URL path (`base`, as base_path() gives it;
    read when None): "" for the app's root."""
    base = (base_path() if base is None else base).rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):]
    return path.rstrip("/").rsplit("/", 1)[-1]


class ChartPreload:
    """ASGI middleware: a page's HTML goes out with the `Link` header naming its first chart's modules."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        link = None
        if scope["type"] == "http" and scope.get("method") == "GET":
            base = base_path()
            link = link_header(page_name(scope.get("path", "/"), base), base)
        if link is None:
            await self.app(scope, receive, send)
            return

        async def send_with_link(message):
            if message["type"] == "http.response.start" and message.get("status") == 200 and any(
                    k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in message.get("headers", [])):
                message = {**message, "headers": [*message.get("headers", []), (b"link", link)]}
            await send(message)

        await self.app(scope, receive, send_with_link)
