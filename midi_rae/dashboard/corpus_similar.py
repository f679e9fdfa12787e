"""Passages as cards (a piano-roll thumbnail, what and where, similarity, a player, a click to open), and
"find similar": the passages of a corpus index nearest to the piece view's window or selected patch.

`render_find_similar(song, res, selected, model)` is what the piece page calls.
"""
from __future__ import annotations

import hashlib
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import streamlit as st

from midi_rae.figures import HIGHLIGHT
from midi_rae.rasters import rgb
from midi_rae.wording import level_name, semitones

from . import activity, session
from .names import display_name

HITS = 8            # passages a find-similar search shows
CARDS_PER_ROW = 4
CARDS_KEY = "passage_cards"  # the container of a list of cards: the page's style sheet names it
THUMB_SCALE = 2     # pixels per step and per semitone in a thumbnail
NOTE_RGB = (37, 52, 148)     # the dashboard's note colour (dark blue: safe for colour-blind readers)
PATCH_RGB = tuple(rgb(HIGHLIGHT))  # the matching patch's outline


class CK:
    """Session keys of the Corpus page and of find-similar (all prefixed 'corpus_')."""

    SOURCE = "corpus_source"
    SERVER_INDEX = "corpus_server_index"
    UPLOAD = "corpus_upload"
    UNPACKED = "corpus_unpacked"      # the uploads unpacked once (uploads.unpack_once)
    BUILT = "corpus_built"            # uri of the index built from uploads
    CURRENT = "corpus_current"        # uri of the index the page shows (find-similar uses it too)
    LEVEL = "corpus_level"
    COLOR = "corpus_color"
    COLOR_PICKED = "corpus_color_picked"  # the map's colouring last picked by hand: no index's default replaces it
    MAP = "corpus_map"
    MAP_NONCE = "corpus_map_nonce"  # bumped after a map click or region is handled (corpus_map.render_map)
    REGION = "corpus_region"  # {(index uri, level, UMAP?): (x0, x1, y0, y1)}: the regions drawn on the maps
    ZOOM = "corpus_zoom"      # {(index uri, level, UMAP?): {"x": [x0, x1], "y": [y0, y1]}}: each map's zoom
    ZOOM_OPENED = "corpus_zoom_opened"  # (map chart key, the zoom that chart opened at)
    REGION_VERSION = "corpus_region_version"  # {index uri: its version when its regions were drawn}
    TRACE = "corpus_trace"    # + ":<index>": the piece traced on the map
    VISITOR = "corpus_visitor"  # {index uri: Visitor}: the piece view's piece as last placed on that index's map
    TAB = "corpus_tab"
    METRE = "corpus_metre"
    Q_PIECE = "corpus_q_piece"
    Q_BAR = "corpus_q_bar"
    Q_BAR_CUT = "corpus_q_bar_cut"  # (piece, bar) a bar typed past its end became
    Q_INDEX = "_corpus_q_index"  # the index those two were picked in
    Q_LEVEL = "corpus_q_level"
    Q_TRANSPOSE = "corpus_q_transpose"
    RESULTS = "corpus_results"        # {query key: hits}
    LAST_SIMILAR = "corpus_last_similar"  # (query key, its words) of find-similar's last search shown
    SIMILAR_LEVEL = "corpus_similar_level"
    SIMILAR_TRANSPOSE = "corpus_similar_transpose"
    LISTEN = "corpus_listen"          # cards whose player was asked for


def _sounding(window: np.ndarray, patch: Optional[tuple[int, int, int, int]], lo: Optional[int],
              hi: Optional[int]) -> tuple[int, int]:
    """(lowest, highest) pitch a thumbnail must show: the notes and the outlined patch."""
    rows = np.flatnonzero(window.any(1))
    lo = int(rows[0]) if lo is None and rows.size else (lo if lo is not None else 48)
    hi = int(rows[-1]) if hi is None and rows.size else (hi if hi is not None else 72)
    if patch is not None:
        lo, hi = min(lo, patch[2]), max(hi, patch[3])
    return lo, hi


def _half(lo: int, hi: int) -> int:
    return max((hi - lo) // 2 + 3, 12)


def half_span(window: np.ndarray, patch: Optional[tuple[int, int, int, int]] = None) -> int:
    """Half the pitch span a thumbnail of this window needs (at least an octave, three semitones of margin)."""
    return _half(*_sounding(window, patch, None, None))


def thumbnail(window: np.ndarray, patch: Optional[tuple[int, int, int, int]] = None, lo: Optional[int] = None,
              hi: Optional[int] = None, half: Optional[int] = None) -> bytes:
    """A PNG of a (128, W) window: pitch upward, cropped to the sounding range (at least two octaves; `half`
    semitones either side of its middle when given, so that a row of cards is one height), with the matching patch
    (step0, step1, pitch0, pitch1) outlined."""
    from PIL import Image

    lo, hi = _sounding(window, patch, lo, hi)
    mid = (lo + hi) // 2
    half = _half(lo, hi) if half is None else max(int(half), _half(lo, hi))
    mid = min(max(mid, half), 127 - half) if 2 * half <= 127 else 64  # near the edges: shifted, not cut shorter
    lo, hi = max(0, mid - half), min(127, mid + half)
    img = np.full((hi - lo + 1, window.shape[1], 3), 255, np.uint8)
    img[window[lo:hi + 1] > 0] = NOTE_RGB
    if patch is not None:
        s0, s1, p0, p1 = patch
        r0, r1 = max(p0, lo) - lo, min(p1, hi) - lo
        for r in (r0, r1):
            img[r, s0:s1] = PATCH_RGB
        img[r0:r1 + 1, s0] = PATCH_RGB
        img[r0:r1 + 1, max(s1 - 1, s0)] = PATCH_RGB
    img = img[::-1].repeat(THUMB_SCALE, 0).repeat(THUMB_SCALE, 1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def index_tag(uri: str) -> str:
    """A short, stable name of an index for the keys of its widgets (the map, its trace picker)."""
    return hashlib.sha1(uri.encode()).hexdigest()[:12]


def trace_key(uri: str) -> str:
    """The session key of an index's "Trace a piece" picker (one per index: its pieces are the options)."""
    return f"{CK.TRACE}:{index_tag(uri)}"


def metre_of(text: str) -> tuple[int, int]:
    """An index's stored metre ("6/8") as (numerator, denominator); 4/4 for anything a grid does not count in."""
    try:
        num, den = (int(v) for v in str(text).split("/"))
    except ValueError:
        return 4, 4
    return (num, den) if 1 <= num <= 64 and den in (1, 2, 4, 8, 16, 32) else (4, 4)


@st.cache_data(max_entries=64, show_spinner=False)
def _wav(key, _window: np.ndarray, spb: int, tempo: float, metre: str = "4/4") -> bytes:
    from midi_rae.audio import roll_audio

    return roll_audio(_window, spb, tempo, fs=16000, time_signature=metre_of(metre))


def open_passage(index, path: Optional[Path], name: str, bar: int, semis: int = 0,
                 pedal: Optional[bool] = None) -> None:
    """Open a corpus passage of `index` in the piece view: the piece becomes the page's piece, transposed by `semis`,
    and its window moves to bar; `pedal`: the sustain pedal as the index read the file (the passage as its card
    showed). The page then says when it shows the passage with another model than the index's."""
    from .app import piece_page

    if path is None or not path.is_file():
        st.error(f"The file of {display_name(name)} is not reachable from this server, so it cannot be opened.")
        return
    piece = show_passage(path, bar, semis)
    session.note_opened_from(piece.key, index_name(index.uri), index.meta)
    if pedal is not None:
        st.session_state[session.K.SUSTAIN] = bool(pedal)
    if _on_page(piece_page()):  # Find similar's cards: a switch to the page shown added a second history entry
        st.rerun(scope="app")
    st.switch_page(piece_page())


def _on_page(page) -> bool:
    """Is this run `page`'s (a st.Page)?"""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx is not None and getattr(page, "_script_hash", None) == ctx.page_script_hash


def show_passage(path: Path, bar: int, semis: int = 0):
    """Make the MIDI file at `path` the piece view's piece (returned), its window at `bar`, transposed by `semis`."""
    from .sidebar import Piece
    from .sources import digest

    data = path.read_bytes()
    piece = Piece(data, digest(data), path.name, address=shipped_address(path))
    session.open_piece(piece, int(bar), semis)
    return piece


def index_name(uri: str) -> str:
    """How the pages name an index: the shipped corpus, the uploaded files, or its folder's name."""
    from .corpus_sources import SHIPPED_INDEX

    return ("shipped corpus" if Path(uri).resolve() == SHIPPED_INDEX.resolve() else
            "the uploaded files" if uri == st.session_state.get(CK.BUILT) else display_name(Path(uri).name))


def shipped_address(path: Path) -> Optional[str]:
    """The path of a shipped-corpus MIDI file under the corpus's MIDI folder (what a URL may name), else None."""
    from .corpus_sources import SHIPPED_MIDI

    try:
        return path.resolve().relative_to(SHIPPED_MIDI.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def shipped_passage(address: str) -> Optional[Path]:
    """The shipped-corpus MIDI file a URL names (its path under the corpus's MIDI folder), if it is one."""
    from .corpus_sources import SHIPPED_MIDI

    if not isinstance(address, str) or not address.lower().endswith((".mid", ".midi")) or "\x00" in address:
        return None
    try:
        root = SHIPPED_MIDI.resolve()
        path = (root / address).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None
    except (OSError, ValueError):
        return None


def breakable(name: str) -> str:
    """A name (Markdown-safe already) as the HTML of a card's line: escaped, and wrapped by a narrow card after its
    _ - . and between the words of a camel-cased name (a <wbr> there), not in the middle of a word
    ("EclipseHor|npipe" was). Not a zero-width space: that was copied with the name, and a name pasted into a
    path or `midi-rae search` then named nothing."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "<wbr>", re.sub(r"([_\-.])", "\\1<wbr>", html.escape(name)))


def passage_cards(uri: str, stamp: str, rows, scores: np.ndarray, k: int) -> list:
    """The best k distinct passages (midi_rae.index.Hit, window images attached) of windows `rows` (a DataFrame of
    `corpus_sources.tables`' windows, best first), each with its score as the number its card shows."""
    import dataclasses

    from midi_rae.index import Hit, distinct_passages

    from . import corpus_sources as src

    hits = [Hit(piece=r["name"], path=r["path"], collection=r["collection"], window=int(r["window"]),
                start_step=int(r["start_step"]), start_bar=float(r["start_bar"]),
                end_bar=float((int(r["end_step"]) - 1) // max(int(r["steps_per_bar"]), 1) + 1),
                pitch_lo=int(r["pitch_lo"]), pitch_hi=int(r["pitch_hi"]), similarity=float(score),
                piece_id=int(r["piece_id"]), steps_per_bar=int(r["steps_per_bar"]),
                window_start=int(r["start_step"]), end_step=int(r["end_step"]),
                steps_per_beat=int(r["steps_per_beat"]), tempo_bpm=float(r["tempo_bpm"]),
                metre=str(r["metre"] or "4/4"), rel=r["rel"])
            for (_, r), score in zip(rows.iterrows(), scores)]
    hits = distinct_passages(hits, k)  # not one passage through its neighbouring windows
    images = src.window_images(uri, stamp, tuple((h.piece_id, h.window) for h in hits))
    return [dataclasses.replace(h, image=images.get((h.piece_id, h.window))) for h in hits]


def render_cards(hits: Sequence, index, key: str, query: str = "") -> None:
    """Cards of passages (midi_rae.index.Hit): thumbnail, caption, a player on request, and Open."""
    from midi_rae.index import unpack_window
    from midi_rae.pianoroll import note_name

    if not hits:
        st.info("No passages found.")
        return
    width = int(index.meta.get("window_steps", 128))

    def shown(h) -> tuple[np.ndarray, Optional[tuple[int, int, int, int]]]:
        try:
            window = unpack_window(h.image, width) if h.image is not None else None
        except ValueError:  # a damaged index: the card says what it can, with a blank thumbnail
            window = None
        window = window if window is not None else np.zeros((128, width), np.uint8)
        patch = None
        if h.patch is not None:
            s0 = h.start_step - h.window_start
            patch = (s0, h.end_step - h.window_start, h.pitch_lo, h.pitch_hi)
        return window, patch

    views = [shown(h) for h in hits]
    half = max(half_span(w, p) for w, p in views)  # one pitch span for every card: cards of one height
    box = st.container(key=f"{CARDS_KEY}_{key}")  # its rows' cards as tall as the tallest (app.APP_CSS)
    for row in range(0, len(hits), CARDS_PER_ROW):
        cols = box.columns(CARDS_PER_ROW)
        for col, (i, h) in zip(cols, enumerate(hits[row:row + CARDS_PER_ROW], start=row)):
            with col.container(border=True):
                window, patch = views[i]
                st.image(thumbnail(window, patch, half=half), width="stretch", output_format="PNG")
                pr = f"{note_name(h.pitch_lo)}–{note_name(h.pitch_hi)}" if h.pitch_lo >= 0 else "silent"
                iv = f" · matched with the query {semitones(h.interval)}" if h.interval else ""
                where = h.place()
                st.markdown(f"**{h.similarity:.3f}** · {breakable(display_name(h.collection))}/"
                            f"**{breakable(display_name(h.piece))}**  \n"
                            f"{html.escape(where)} · {pr}{iv}", unsafe_allow_html=True)  # <wbr> only: all else escaped
                c1, c2 = st.columns(2)
                card = f"{key}:{query}:{h.path}:{h.start_step}:{i}"  # the passage's own: not its place in a list
                listening = st.session_state.setdefault(CK.LISTEN, set())
                if card in listening or c1.button("▶ Listen", key=f"listen_{card}"):
                    listening.add(card)
                    # keyed by the window's own image: a piece's id is its path's, alike in two indexes of a folder
                    image = hashlib.sha1(h.image).hexdigest() if h.image is not None else (h.piece_id, h.window_start)
                    st.audio(_wav(image, window, h.steps_per_beat, h.tempo_bpm, h.metre),
                             format="audio/wav")
                into = f", transposed {semitones(-h.interval)} into the query's key" if h.interval else ""
                if c2.button("Open", key=f"open_{card}", help=f"Show this passage in the piece view{into}"):
                    bar = h.window_start // max(h.steps_per_bar, 1) + 1
                    open_passage(index, index.resolve(h.path, h.rel), h.piece, bar, -h.interval,
                                 bool(index.meta.get("sustain_pedal")))


def patch_place(index, roll, start: int, level: int, patch: tuple[int, int]) -> str:
    """Where patch (row, column) of the window from `start` lies, as the piece view names it: "bars 5–6, E4–B6"."""
    from midi_rae.pianoroll import bar_span, note_name

    rows, cols = index.meta["grids"][level]
    steps, semis = int(index.meta.get("window_steps", 128)) // cols, 128 // rows
    lo = patch[0] * semis
    return (f"{bar_span(start + patch[1] * steps, steps, max(roll.steps_per_bar, 1), roll.steps_per_beat)}, "
            f"{note_name(lo)}–{note_name(min(lo + semis - 1, 127))}")


def current_index():
    """(the index the Corpus page last showed, or the shipped one, opened; its version, `corpus_sources.stamp`);
    None when there is none."""
    from .corpus_sources import SHIPPED_INDEX, is_index, open_index, stamp

    uri = st.session_state.get(CK.CURRENT) or (str(SHIPPED_INDEX) if is_index(SHIPPED_INDEX) else None)
    if uri is None:
        return None
    version = stamp(uri)
    return open_index(uri, version), version


def render_find_similar(song, res, selected, model) -> None:
    """'Find similar' for the piece view: the passages of the corpus nearest the current window (pooled at a
    level), or the selected patch at its level, as cards.

    song: loaders.Song; res: the window's WindowAnalysis; selected: clicks.Selected or None; model:
    model_views.Model. The search runs when asked for and its result is kept for that query. The section is a
    fragment: its controls, the search and the players rerun it alone, not the piece page around it.
    """
    st.subheader("Find similar in the corpus")
    _find_similar(song, res, selected, model)


@st.fragment
@activity.fragment_body
def _find_similar(song, res, selected, model) -> None:
    found = current_index()
    if found is None:
        st.info("No corpus index: open the Corpus page to pick or build one.")
        return
    index, version = found
    from .corpus_sources import damage_shown

    st.caption(f"Searches the index *{index_name(index.uri)}* ({index.count('windows'):,} windows); the Corpus page "
               "picks another.")
    theirs = int(index.meta.get("steps_per_beat") or 4)
    if song.roll.steps_per_beat != theirs:  # the page's windows and patches are other spans of music than its own
        st.info(f"This index reads its pieces at {theirs} steps per beat and the page shows this piece at "
                f"{song.roll.steps_per_beat}: its windows and patches span other music. Set the time resolution to "
                f"{theirs} to search it.")
        return
    with damage_shown(index.uri):
        _search_section(index, version, song, res, selected, model)


def _search_section(index, version: str, song, res, selected, model) -> None:
    from midi_rae.index import default_level, search_passage

    levels = index.levels
    spbar = max(song.roll.steps_per_bar, 1)
    bar = res.start // spbar + 1
    patch = None
    if selected is not None and selected.start == res.start and 0 < selected.level < levels:
        level = selected.level
        cols = index.meta["grids"][level][1]
        patch = divmod(int(selected.patch), cols)
        if level not in index.patch_levels:
            level, patch = _stored_holder(index, level, patch)
    else:
        level = st.session_state.get(CK.SIMILAR_LEVEL, default_level(levels))
    # the caption names only the window that was searched: a selected patch is the query where it can be
    selected_here = selected is not None and selected.start == res.start
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    if patch is None:
        grids = index.meta.get("grids") or []
        level = c1.selectbox("Level", list(range(levels)), index=min(level, levels - 1),
                             format_func=lambda k: level_name(k, grids),
                             persist_state="session", key=CK.SIMILAR_LEVEL,
                             help="Compare the windows' embeddings at this level, pooled over non-empty patches.")
    else:
        c1.markdown(f"Selected patch: level {level}, {patch_place(index, song.roll, res.start, level, patch)}")
    invariant = c2.toggle("Any transposition", persist_state="session", key=CK.SIMILAR_TRANSPOSE,
                          help="Also try the window transposed by −12..+12 semitones and show the interval found.")
    # the index's contents too: one rebuilt in place is another index, whose cards these are not
    qkey = ((index.uri, version), song.key, res.start, level, patch, invariant)
    results = st.session_state.setdefault(CK.RESULTS, {})
    # once searched from this window, the results follow the level and transposition controls (a change had
    # emptied the list without a word until the button was pressed again)
    searched_here = any(k[:3] == qkey[:3] for k in results)
    searcher, width, note, same_space = _search_model(index, model)
    if searcher is None:
        st.error(note)
        return
    if note:
        (st.caption if same_space else st.warning)(note)
    if not _read_as_indexed(index, song.roll):
        shown = "applied" if song.roll.sustain_pedal else "not applied"
        st.caption(f"This piece is shown with its sustain pedal {shown}; the index read its files {'with' if index.meta.get('sustain_pedal') else 'without'} it, so "
                   "its windows differ from the index's reading of this file.")
    search = c3.button("Find similar", type="primary", key="corpus_find_similar") or \
        (searched_here and qkey not in results)
    if same_space and st.button("Show this piece on the corpus map", key="corpus_show_on_map",
                                help="Every window of this piece, encoded by the index's model, drawn as a path over "
                                     "the Corpus page's map."):
        show_on_map(index, song, searcher, model)
    # the shown window's own place in the index: left out of a search, and said so beside its results
    own = _own_passage(index, song, res.start, invariant) if search or qkey in results else []
    if search:
        try:
            results[qkey] = search_passage(index, song.roll, bar, level, patch, invariant, HITS, bundle=searcher(),
                                           avoid=own)
        except ValueError as e:  # another model's index: one sentence
            st.error(str(e))
            return
    if qkey in results:
        from .corpus_sources import window_span

        # the window the query was cut as: the searching model's width, which the page's model may not share
        where = window_span(res.start, width, song.roll.steps, spbar,
                            song.roll.steps_per_beat)
        what = (f"the patch at {patch_place(index, song.roll, res.start, level, patch)} of the window "
                if patch else "the window ")
        left_out = (" This piece is in the index (the same file): its own window there, which would match at 1.000, "
                    "is left out." if own else "")
        hits = results[qkey]
        elsewhere = sum(1 for h in hits if patch and h.patch is not None and h.patch[0] != patch[0] and not h.interval)
        moved = (f" {elsewhere} of the {len(hits)} lie in another pitch band than the selected patch: at this level "
                 "the model's embeddings carry little of where in pitch a patch lies." if elsewhere else "")
        hint = "" if selected_here else " Select a patch in the window above to search a smaller region."
        shifted = _transposition(song)
        asked = (f"{what}{where} of {song.roll.name}" + (f" transposed {semitones(shifted)}" if shifted else "")
                 + f" at level {level}")
        st.session_state[CK.LAST_SIMILAR] = (qkey, asked)
        st.caption(f"Nearest to {asked} (cosine), among {index.count('windows'):,} windows.{left_out}{moved}{hint}")
        render_cards(results[qkey], index, "similar", query=str(hash(qkey)))
        return
    last = st.session_state.get(CK.LAST_SIMILAR)
    if last is not None and last[0][0] == qkey[0] and last[0] in results:
        # a result opened, or the window moved: the list stays, so that the next result is a click away
        st.caption(f"The last search's results: nearest to {last[1]}. Press *Find similar* to search from the "
                   "window shown now.")
        render_cards(results[last[0]], index, "similar", query=str(hash(last[0])))


def _stored_holder(index, level: int, patch: tuple[int, int]) -> tuple[int, Optional[tuple[int, int]]]:
    """(level, patch) to search for a patch of a `level` whose patches the index does not store: the patch of the
    finest coarser level it stores that holds it, else (`level`, None): the whole window. Says which, once."""
    stored = ", ".join(map(str, index.patch_levels))
    holder = max((k for k in index.patch_levels if 0 < k < level), default=None)
    if holder is None:
        # the Level box below keeps the level last chosen there, so the sentence names that box, not `level`
        st.caption(f"Level {level}'s patches are not in this index (it stores those of levels {stored}): the search "
                   "compares whole windows instead, at the level chosen below.")
        return level, None
    (rows, cols), (h_rows, h_cols) = index.meta["grids"][level], index.meta["grids"][holder]
    st.caption(f"Level {level}'s patches are not in this index (it stores those of levels {stored}): the search "
               f"compares the level-{holder} patch that holds the selected one.")
    return holder, (patch[0] * h_rows // rows, patch[1] * h_cols // cols)


@dataclass
class Visitor:
    """A piece from the piece view, encoded for one index's map: each window's pooled embedding per level."""

    uri: str                   # the index whose model encoded it
    stamp: str                 # its contents then (`corpus_sources.stamp`): rebuilt, it may be another model's
    name: str
    label: str                 # the trace picker's: what was placed, as it was shown (a snapshot of the piece view)
    starts: np.ndarray         # window start steps
    vectors: list[np.ndarray]  # per level (windows, D), pooled over non-empty patches as the index pools
    steps: int
    steps_per_bar: int
    steps_per_beat: int


def visitor(index_uri: str, song, bundle, page_bundle) -> Visitor:
    """`song` (loaders.Song) as the map of the index at `index_uri` places it: its windows encoded by `bundle`, the
    index's model (the piece view's own encoding where that is the same model), pooled as the index pools."""
    from types import SimpleNamespace

    import torch

    from midi_rae.index import pool_levels
    from midi_rae.inference import encode_piece

    from .corpus_sources import stamp

    enc = song.encoding if bundle is page_bundle else encode_piece(bundle.encoder, song.roll)
    levels = [SimpleNamespace(emb=torch.from_numpy(e), non_empty=torch.from_numpy(ne))  # what pool_levels reads
              for e, ne in zip(enc.level_emb, enc.level_non_empty)]
    roll, semis = song.roll, _transposition(song)
    shown = (roll.name + (f" transposed {semitones(semis)}" if semis else "") + f", {roll.steps_per_beat} steps per beat"
             + (", sustain pedal applied" if roll.sustain_pedal else ""))
    return Visitor(index_uri, stamp(index_uri), roll.name, f"{shown} (placed from the piece view)",
                   np.asarray(enc.starts), [v.float().numpy() for v in pool_levels(levels)], roll.steps,
                   roll.steps_per_bar, roll.steps_per_beat)


def show_on_map(index, song, searcher, model) -> None:
    """Encode the piece view's piece for the index's map, make it the map's traced piece and go there."""
    from .app import corpus_page

    st.session_state.setdefault(CK.VISITOR, {})[index.uri] = visitor(index.uri, song, searcher(), model.bundle)
    st.session_state[trace_key(index.uri)] = VISITOR_ROW
    st.session_state[session.K.LAST_TAB_PREFIX + CK.TAB] = "Map"
    st.switch_page(corpus_page())


def _transposition(song) -> int:
    """The semitones the piece view's piece is transposed by (loaders.Song.key: midi, checkpoint, steps per beat,
    transposition)."""
    key = getattr(song, "key", ())
    return int(key[3]) if len(key) > 3 else 0


VISITOR_ROW = "visitor"  # the trace picker's value for the visitor (a piece's is its id, as digits)


def _own_passage(index, song, start: int, invariant: bool = False) -> list[tuple[int, int, int]]:
    """(piece_id, start, end) of the shown window where the piece itself is in the index as shown (the same file,
    at the index's resolution, untransposed or searched in any transposition): searched for, it would top the list
    at similarity 1."""
    from .sources import PEDAL_KEY

    midi, _, spb, semis = song.key
    if (semis and not invariant) or spb != int(index.meta.get("steps_per_beat") or 4) or not _read_as_indexed(index, song.roll):
        return []
    from midi_rae.index import own_passages

    # sources.roll_key: the file's digest (the index's content_hash), and whether its pedal was applied
    return own_passages(index, str(midi).removesuffix(PEDAL_KEY), start)


def _read_as_indexed(index, roll) -> bool:
    """Was the piece read as the index read its files: its sustain pedal applied or not alike (a piece without
    pedal reads the same either way)?"""
    return not roll.pedal_presses or roll.sustain_pedal == bool(index.meta.get("sustain_pedal"))


def _search_model(index, model) -> tuple[Optional[Callable[[], Any]], int, str, bool]:
    """(the model that encodes the query, loaded when called; its window's width; a sentence for the page; is the
    query in the index's own space?).

    The page's model where it built the index; else the model that did, where this server has it (loaded only for
    a search); else, where the architectures agree, the page's model with a warning (similarities across two
    models); else nothing and why."""
    from . import index_model
    from .sidebar import DEFAULT_CHOICE

    own_width = model.bundle.model_config.window_steps
    page = session.last_good_checkpoint() or DEFAULT_CHOICE
    if page.key == model.key and index_model.is_built_with(index.meta, page):
        return (lambda: model.bundle), own_width, "", True
    made_by = index_model.built_with(index.meta)
    if made_by is not None:
        from .loaders import load_choice

        return ((lambda: load_choice(made_by)), int(index.meta.get("window_steps", 128)),
                f"Searches with the model that built this index ({display_name(made_by.label)}), not "
                f"{display_name(model.label)}: only its embeddings are comparable with the index's.", True)
    if model.bundle.model_config.to_dict() == _index_config(index):
        return ((lambda: model.bundle), own_width, f"This index was built with another model "
                f"({display_name(str(index.meta.get('checkpoint')))}), which this server does not have; "
                "similarities compare two models' embeddings.", False)
    return None, 0, index_model.missing_sentence(index.meta), False


def _index_config(index) -> dict:
    from midi_rae.config import ModelConfig

    try:
        return ModelConfig.from_dict(index.meta["config"]).to_dict()
    except Exception:  # noqa: BLE001
        return {}
