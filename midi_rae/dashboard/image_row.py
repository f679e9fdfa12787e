"""Equal-width images side by side, each under its title: one element that stays on the page and swaps only
the images that changed."""
from __future__ import annotations

import base64
import contextlib

import streamlit as st

_CSS = """
.midi-rae-image-row { display: grid; gap: 1rem; }
.midi-rae-image-row figure { margin: 0; min-width: 0; }
.midi-rae-image-row figcaption { font-size: 0.8rem; color: #555; margin-bottom: 0.25rem; white-space: nowrap;
                                 overflow: hidden; text-overflow: ellipsis; }
.midi-rae-image-row img { width: 100%; display: block; }
"""
_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const row = parentElement.querySelector('.midi-rae-image-row');
  if (row.children.length !== data.panels.length) {
    row.style.gridTemplateColumns = `repeat(${data.panels.length}, minmax(0, 1fr))`;
    row.replaceChildren(...data.panels.map(() => {
      const f = document.createElement('figure');
      f.append(document.createElement('figcaption'), document.createElement('img'));
      return f;
    }));
  }
  data.panels.forEach(([title, uri], i) => {  // only what changed: an unchanged image is not decoded again
    const f = row.children[i], cap = f.firstChild, img = f.lastChild;
    if (cap.textContent !== title) { cap.textContent = title; img.alt = title; }
    if (img.getAttribute('src') !== uri) img.setAttribute('src', uri);
  });
}
"""
_COMPONENT = st.components.v2.component("midi_rae_image_row", html='<div class="midi-rae-image-row"></div>',
                                        css=_CSS, js=_JS, isolate_styles=False)


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page needs no request of its own to fetch it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def show(container, panels: list[tuple[str, str]], key: str) -> None:
    """The row of panels into a Streamlit container, as element `key`.

    One element instead of a column, a caption and an image per panel (the level masks and the reconstruction
    were 33 elements and 11 image requests on every window step). It stays on the page across runs: a mask step
    swaps the images that changed, where `st.html` sanitised and rebuilt the whole row and decoded every image."""
    with container if hasattr(container, "__enter__") else contextlib.nullcontext():
        _COMPONENT(key=key, data={"panels": [[str(t), str(u)] for t, u in panels]}, height="content")
