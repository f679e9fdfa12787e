"""Dense views as plain RGB images: arrays in, uint8 (H, W, 3) arrays out, pitch upward.

The dashboard redraws these on every mask or window change. A plotly chart costs the browser about twice
what an image does (measured here: one slider move redrawing five 128×128 panels took 0.32 s as plotly
heatmaps, 0.34 s as plotly images and 0.16 s as an st.image), so the views that need no hover or click
(the level masks and the reconstruction row) are drawn as images; the report and the interactive view of
the reconstruction keep their plotly figures (midi_rae.figures).
"""
from __future__ import annotations

import numpy as np

from .figures import (BACKGROUND, EMPTY, FN_COLOUR, FP_COLOUR, HIGHLIGHT, MASKED, NON_EMPTY, NOTE, TP_COLOUR,
                      error_codes)

__all__ = ["rgb", "upscale", "png", "viridis", "diverging", "paint", "level_mask_images", "reconstruction_images",
           "difference_image"]

# viridis at 9 stops (matplotlib's), interpolated linearly: enough for a 0–1 probability map
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], dtype=np.float32)
# ColorBrewer's RdBu (11 classes, colour-blind safe) from blue to red: -1 blue, 0 near-white, +1 red
_RDBU = np.array([[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
                  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]], dtype=np.float32)
DIVERGING_LOW, DIVERGING_HIGH = "#2166ac", "#b2182b"  # its colours at -0.8 and +0.8, for legends


def rgb(colour: str) -> np.ndarray:
    """'#rrggbb' as a uint8 (3,) array."""
    c = colour.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)


def upscale(image: np.ndarray, factor: int, rows: int | None = None) -> np.ndarray:
    """Nearest-neighbour enlargement (rows by `rows` if given, else by `factor`), so pixels stay crisp."""
    rows = factor if rows is None else rows
    out = np.repeat(image, rows, axis=0) if rows > 1 else image
    return np.repeat(out, factor, axis=1) if factor > 1 else out


def png(image: np.ndarray) -> bytes:
    """An RGB image as PNG bytes (lossless: JPEG would smear single-pixel notes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _ramp(values: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as RGB, interpolated linearly between evenly spaced colour stops."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0) * (len(stops) - 1)
    lo = np.floor(v).astype(int)
    hi = np.minimum(lo + 1, len(stops) - 1)
    frac = (v - lo)[..., None]
    return (stops[lo] * (1 - frac) + stops[hi] * frac).round().astype(np.uint8)


def viridis(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as viridis RGB."""
    return _ramp(values, _VIRIDIS)


def diverging(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] as RdBu RGB: negative blue, 0 near-white, positive red."""
    return _ramp((np.asarray(values, dtype=np.float32) + 1) / 2, _RDBU)


def paint(codes: np.ndarray, colours: list[str]) -> np.ndarray:
    """Integer codes 0..n-1 as the given colours, pitch upward (row 0 at the bottom)."""
    lut = np.stack([rgb(c) for c in colours])
    return lut[np.asarray(codes)[::-1]]


def _rows(a: np.ndarray, pitch_range: tuple[int, int] | None) -> np.ndarray:
    return a if pitch_range is None else a[max(0, pitch_range[0]):pitch_range[1] + 1]


def _outline(image: np.ndarray, top: int, left: int, bottom: int, right: int, colour: np.ndarray,
             width: int = 2) -> None:
    """Draw a rectangle's border (exclusive bottom/right) in place."""
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, image.shape[0]), min(right, image.shape[1])
    image[top:top + width, left:right] = colour
    image[bottom - width:bottom, left:right] = colour
    image[top:bottom, left:left + width] = colour
    image[top:bottom, right - width:right] = colour


def level_mask_images(non_empty: list[np.ndarray], window: np.ndarray, highlight: dict | None = None,
                      scale: int = 2) -> list[np.ndarray]:
    """One image per level: its non-empty patches over the window's notes, the highlighted patches outlined."""
    notes = np.asarray(window) > 0
    H, W = notes.shape
    note_rgb, out = rgb(NOTE), []
    grid_line = np.array([255, 255, 255], dtype=np.uint8)
    for k, ne in enumerate(non_empty):
        g = np.asarray(ne, dtype=bool).reshape(np.asarray(ne).shape[-2:])
        gh, gw = g.shape
        cells = np.kron(g, np.ones((H // gh, W // gw), dtype=bool))  # (H, W) patch membership per pixel
        img = upscale(paint(cells.astype(np.uint8), [EMPTY, NON_EMPTY]), scale)
        img[upscale(notes[::-1], scale)] = note_rgb
        if gh <= 16:  # thin white lines between coarse patches, as the plotly view had
            step_r, step_c = H * scale // gh, W * scale // gw
            img[::step_r] = grid_line
            img[:, ::step_c] = grid_line
        for n in (highlight or {}).get(k, []):
            i, j = divmod(int(n), gw)
            ph, pw = H * scale // gh, W * scale // gw
            top = (gh - 1 - i) * ph  # row 0 (lowest pitches) is drawn at the bottom
            _outline(img, top, j * pw, top + ph, (j + 1) * pw, rgb(HIGHLIGHT), width=max(2, scale))
        out.append(img)
    return out


def reconstruction_images(original: np.ndarray, hidden: np.ndarray, probs: np.ndarray, binary: np.ndarray,
                          pitch_range: tuple[int, int] | None = None, scale: int = 2,
                          aspect: float = 0.75) -> dict[str, np.ndarray]:
    """Original, masked input, probabilities, binarized (pasted) and the error map, as images of the same size.

    A zoomed pitch range keeps its panels about `aspect` as tall as wide (pixels then stretch upward), as the
    plotly view does, instead of shrinking to strips.

    Colours as in figures.reconstruction_row: notes dark, hidden patches light blue, probabilities viridis,
    errors: right notes dark, extra notes orange, missed notes sky blue.
    """
    o = np.asarray(original) > 0
    h = np.asarray(hidden, dtype=bool)
    b = np.asarray(binary) > 0
    masked = np.where(h, 2, o.astype(np.uint8))
    err = error_codes(o, b)
    parts = {
        "original": paint(_rows(o.astype(np.uint8), pitch_range), [BACKGROUND, NOTE]),
        "masked": paint(_rows(masked, pitch_range), [BACKGROUND, NOTE, MASKED]),
        "probs": viridis(_rows(np.asarray(probs), pitch_range)[::-1]),
        "binary": paint(_rows(b.astype(np.uint8), pitch_range), [BACKGROUND, NOTE]),
        "errors": paint(_rows(err, pitch_range), [BACKGROUND, TP_COLOUR, FP_COLOUR, FN_COLOUR]),
    }
    return {k: _panel(v, scale, aspect) for k, v in parts.items()}


def difference_image(a: np.ndarray, b: np.ndarray, pitch_range: tuple[int, int] | None = None, scale: int = 2,
                     aspect: float = 0.75) -> np.ndarray:
    """b − a of two (128, W) probability maps on RdBu (red where b is higher), sized as reconstruction_images."""
    d = np.asarray(b, dtype=np.float32) - np.asarray(a, dtype=np.float32)
    return _panel(diverging(_rows(d, pitch_range)[::-1]), scale, aspect)


def _panel(image: np.ndarray, scale: int, aspect: float) -> np.ndarray:
    """A view enlarged to `scale` pixels per step and about `aspect` as tall as wide, framed."""
    H, W = image.shape[:2]
    rows = max(scale, round(scale * aspect * W / max(H, 1)))
    return _framed(upscale(image, scale, rows))


def _framed(image: np.ndarray) -> np.ndarray:
    """A 1-pixel grey frame, so a mostly white panel shows where it ends."""
    return np.pad(image, ((1, 1), (1, 1), (0, 0)), constant_values=187)
