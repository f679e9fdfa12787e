"""The Corpus page: the model over a whole collection. `main()` lays it out.

The sidebar picks an index (the shipped corpus, one from the server's folder, or one built here from uploaded
MIDI / PNG files or a zip). Three tabs follow, only the open one computed: the map (PCA of every window's pooled
embedding at a level, coloured by collection, piece, density, F1 or position; a click opens that passage in the
piece view), reconstruction over the corpus (F1 per collection and piece, the worst windows, F1 against density,
errors by pitch and by position in the bar), and a search from any passage of the corpus.

Drawing the map needs neither torch nor lancedb (it reads the index's snapshot, midi_rae.index_view); lancedb
loads for the reconstruction tab's thumbnails and profiles and for searches, torch to build an index or to encode
a query.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from midi_rae.cache_folder import cache_dir
from midi_rae.figures import CHART_CONFIG, note_ticks
from midi_rae.index_view import own_ranges, png_path, png_paths, unreadable
from midi_rae.wording import counted, level_name

from . import corpus_sources as src
from . import index_model, session, uploads, warmup
from .corpus_map import MAP_POINTS, render_map
from .corpus_similar import CK, HITS, index_name, passage_cards, render_cards
from .names import display_name

GALLERY = 8         # worst windows shown
TABS = ["Map", "Reconstruction", "Search the corpus"]


# ---------------------------------------------------------------- the index


def _shipped_uri(progress_slot) -> Optional[str]:
    """The shipped index; where it was built with another checkpoint, one built from the shipped MIDI files
    into the cache folder (on first open, with progress)."""
    from .sidebar import DEFAULT_CHOICE

    key = index_model.content_keys(DEFAULT_CHOICE)[0]  # what an index built with the shipped default stores
    if src.shipped_usable(key):
        return str(src.SHIPPED_INDEX)
    out = cache_dir() / "shipped-corpus" / key
    if src.is_index(out) and _complete(str(out)):
        return str(out)
    if not src.SHIPPED_MIDI.is_dir():
        return None
    files = sorted(p for p in src.SHIPPED_MIDI.rglob("*") if p.suffix.lower() in uploads.SOURCE_SUFFIXES)
    _build_with_progress(files, out, progress_slot, "Indexing the shipped corpus (once)")
    return str(out)


def _complete(uri: str) -> bool:
    try:
        return src.view(uri, src.stamp(uri)).meta.get("updated") is not None
    except Exception:  # noqa: BLE001
        return False


def _bundle(choice=None):
    """The shipped model, or the chosen checkpoint's (loaded once per server process), torch's threads sized
    before it loads."""
    from midi_rae import threads

    warmup.model()  # torch is imported on the warm-up's thread
    threads.follow()
    from .loaders import load_choice
    from .sidebar import DEFAULT_CHOICE

    return load_choice(choice or DEFAULT_CHOICE)


def _build_with_progress(files: list[Path], out: Path, slot, what: str, choice=None):
    bar = slot.progress(0.0, text=f"{what}: loading the model…")

    def progress(done: int, total: int, name: str) -> None:
        # total 0: a state, not a count (the build waits for another session's build of the same files)
        bar.progress(done / max(total, 1), text=f"{what}: {done}/{total} — {name}" if total else f"{what}: {name}…")

    report = src.build(files, out, _bundle(choice), progress)
    slot.empty()
    return report


def index_section() -> Optional[str]:
    """Sidebar: pick the index (shipped, server folder, or built from uploads); returns its uri or None."""
    st.sidebar.header("Corpus index")
    folder = src.index_folder()
    options = ["Shipped corpus"] + (["Server folder"] if folder else []) + ["Build from files"]
    choice = st.sidebar.radio("Index source", options,
                              persist_state="session", key=CK.SOURCE, label_visibility="collapsed")
    slot = st.empty()
    if choice == "Shipped corpus":
        uri = _shipped_uri(slot)
        if uri is None:
            st.sidebar.warning("No corpus ships with this installation; build one from files.")
        return uri
    if choice == "Server folder":
        found = src.folder_indexes(folder)
        if not found:
            st.sidebar.warning(f"No index in {folder} (make one with `midi-rae index`).")
            return None
        pick = st.sidebar.selectbox("Index", found, persist_state="session", key=CK.SERVER_INDEX,
                                    format_func=lambda p: str(p.relative_to(folder)) if p != folder else p.name)
        return str(pick)
    return _upload_section(slot)


def build_offer(out: Path, built: Optional[str], model_keys: tuple[str, ...]) -> str:
    """What the sidebar offers for uploaded files whose index would be `out`: "shown" (it is the index on the page),
    "open" (this server built it before, complete and with the model of `model_keys`: open it as it is) or
    "build"."""
    if not src.is_index(out):
        return "build"
    try:
        meta = src.view(str(out), src.stamp(str(out))).meta
    except Exception:  # noqa: BLE001 - a build cut short or damaged: built again
        return "build"
    # unfinished, or built with the server's default of another day: the build finishes it, or redoes it
    if meta.get("updated") is None or meta.get("checkpoint_key") not in model_keys:
        return "build"
    return "shown" if built == str(out) else "open"


BUILT_BEFORE = ("Showing the index built from the files you dropped before (the uploader empties when you leave this "
                "choice or the page); drop files above to build another.")


def _upload_section(slot) -> Optional[str]:
    ups = st.sidebar.file_uploader(
        f"MIDI files, PNG piano rolls or a zip (at most {uploads.MAX_UPLOAD_FILES} files, "
        f"{uploads.MAX_UPLOAD_BYTES // 2 ** 20} MB)", type=[s[1:] for s in uploads.SOURCE_SUFFIXES] + ["zip"], accept_multiple_files=True,
        key=CK.UPLOAD, max_upload_size=uploads.MAX_UPLOAD_BYTES // 2 ** 20)  # one limit stated, not the server's too
    if ups:
        files, notes, digest = uploads.unpack_once(ups, st.session_state, CK.UNPACKED)
        if not files:  # the reasons in the warning itself: as captions under it they went unread
            st.sidebar.warning("No MIDI or PNG files in the upload." + "".join(f"\n- {n}" for n in notes[:10]))
        else:
            for n in notes:
                st.sidebar.caption(n)
            _offer_build(files, digest, slot)
    built = st.session_state.get(CK.BUILT)
    if built and src.is_index(Path(built)):
        if not ups:  # Streamlit empties the uploader whenever this choice, or the page, is left
            st.sidebar.caption(BUILT_BEFORE)
        return built
    if built:  # pruned: the server keeps the newest few builds of all its sessions
        st.sidebar.warning(f"The index built from your files was removed to make room for newer ones (this server "
                           f"keeps the {uploads.KEPT_BUILDS} newest builds); build it again from the files.")
    st.sidebar.info("Press the button above to open or build the index of the dropped files." if ups and files
                    else "Drop other files above: none of these can be indexed." if ups else
                    "Drop files above and build an index of them.")
    return None


def _built_from(these: str, out: Path) -> str:
    """What the sidebar says of the index built from the uploads, counting the files it could not read."""
    try:
        failed = len(src.view(str(out), src.stamp(str(out))).failures())
    except Exception:  # noqa: BLE001 - an index that cannot be read is said so on the page itself
        failed = 0
    return (f"The index shown is built from {these}"
            + (f", {counted(failed, 'file')} of which could not be read (listed on the page)." if failed else "."))


def build_target(digest: str) -> tuple:
    """(model, its content keys, the index folder) for uploaded files of `digest`: the piece page's model (a
    researcher's own, where one is in use), whose map, search and scores the index then holds; one folder per
    model, so that indexes of the same files by two models stand side by side."""
    from .sidebar import DEFAULT_CHOICE

    model = session.last_good_checkpoint() or DEFAULT_CHOICE
    keys = index_model.content_keys(model)
    home = cache_dir() / "uploads" / digest
    return model, keys, home / ("index" if model.key == DEFAULT_CHOICE.key or not keys else f"index-{keys[0][:16]}")


def _offer_build(files: dict, digest: str, slot) -> None:
    """The sidebar's button for uploaded files: build their index, open the one this server built of them before,
    or (the index shown) a caption; a build's unreadable files listed after it."""
    model, keys, out = build_target(digest)
    home = out.parent
    offer = build_offer(out, st.session_state.get(CK.BUILT), keys)
    place = st.sidebar.empty()  # the offer, then what became of it: not a button for what is done
    these = "this file" if len(files) == 1 else f"these {counted(len(files), 'file')}"
    report = None
    if offer == "shown":
        place.caption(_built_from(these, out))
    elif offer == "open" and place.button(
            f"Open the index of {these}", type="primary", key="corpus_open_built",
            help="This server indexed the same files before, with the same model: it opens without "
                 "indexing them again."):
        home.touch()  # the newest build in use: pruning keeps it
        st.session_state[CK.BUILT] = str(out)
        place.caption(_built_from(these, out))
    elif offer == "build" and place.button(f"Build an index of {counted(len(files), 'file')}",
                                           type="primary", key="corpus_build",
                                           help=f"Encoded by {display_name(model.label)}, the model in use on the "
                                                "Piece page (pick another there to index with it)."):
        paths = uploads.write_uploads(files, home / "files")
        home.touch()  # the newest build: pruning keeps it
        uploads.prune_builds(home.parent)
        report = _build_with_progress(paths, out, slot,
                                      f"Indexing the uploaded files with {display_name(model.label)}", model)
        st.session_state[CK.BUILT] = str(out)
        place.caption(_built_from(these, out))
    if report is not None and report.failed:
        more = len(report.failed) - 5
        st.sidebar.warning(f"{counted(len(report.failed), 'file')} not indexed:\n"
                           + "".join(f"\n- {Path(p).name}: {e}" for p, e in report.failed[:5])
                           + (f"\n- and {counted(more, 'other')}" if more > 0 else ""))


# ---------------------------------------------------------------- reconstruction


def render_reconstruction(uri: str, stamp: str, index) -> None:
    """F1 by collection and piece, the worst windows, F1 against density, errors by pitch and position in bar."""
    pieces, win = src.tables(uri, stamp)
    if not index.meta.get("has_decoder"):
        st.info("This index was built without reconstruction scores ('midi-rae index --no-reconstruction'): there is "
                "no F1 to show; index it again with --rebuild and without that flag to score it."
                if index.meta.get("f1_skipped") else
                "This index was built with an encoder-only checkpoint: there are no reconstructions to score.")
        return
    thr, ratio = index.meta.get("threshold", 0.5), index.meta.get("f1_mask_ratio", 0.5)
    st.caption(f"F1 of each window's reconstruction at threshold {thr:g}: unmasked, and on the pixels of the patches "
               f"hidden at mask ratio {ratio:g} (the piece page's mask for seed 0). A piece's and a collection's "
               f"figure is the mean of its windows' F1s; `midi-rae inspect` and `evaluate` pool the pixels of all "
               f"windows into one F1 instead, which differs from the mean most where windows hide few notes (on one "
               f"Mozart movement, 0.470 against 0.497 on masked patches).")
    by_coll = win.groupby("collection").agg(pieces=("piece_id", "nunique"), windows=("window", "size"),
                                            f1=("f1", "mean"), f1_masked=("f1_masked", "mean"),
                                            density=("density", "mean")).sort_values("f1_masked").reset_index()
    # one above the other: side by side, at a laptop's width, each hid columns behind a scroll bar
    st.markdown("**By collection** (worst first)")
    st.dataframe(by_coll.rename(columns={"f1": "F1", "f1_masked": "Masked F1", "density": "Notes per beat"}),
                 hide_index=True, width="stretch",
                 column_config={"F1": st.column_config.NumberColumn(format="%.3f"),
                                "Masked F1": st.column_config.NumberColumn(format="%.3f"),
                                "Notes per beat": st.column_config.NumberColumn(format="%.2f")})
    st.markdown("**By piece** (click a column to sort)")
    per_piece = pieces[["collection", "name", "windows", "f1", "f1_masked", "notes", "metre", "bars"]].rename(
        columns={"name": "piece", "f1": "F1", "f1_masked": "Masked F1"}).sort_values("Masked F1")
    png = png_paths(pieces.loc[per_piece.index, "path"])  # a PNG roll has neither
    per_piece["metre"] = per_piece["metre"].astype(object).where(~png, None)
    per_piece["bars"] = per_piece["bars"].astype(float).where(~png, np.nan)
    # at most 300 px: a few pieces' rows without blank ones under them (35 px a row, and the header)
    st.dataframe(per_piece, hide_index=True, width="stretch", height=min(300, 35 * (len(per_piece) + 1) + 3),
                 column_config={"F1": st.column_config.NumberColumn(format="%.3f"),
                                "Masked F1": st.column_config.NumberColumn(format="%.3f"),
                                "bars": st.column_config.NumberColumn(format="%.1f")})

    st.markdown(f"**The {GALLERY} worst passages** (masked F1)")
    from midi_rae.index import CANDIDATES

    worst = win[win["notes"] > 0].nsmallest(GALLERY * CANDIDATES, "f1_masked")
    hits = passage_cards(uri, stamp, worst, worst["f1_masked"].to_numpy(), GALLERY)
    st.caption("The number on each card is its masked F1.")
    render_cards(hits, index, "worst")

    c1, c2 = st.columns(2)
    c1.plotly_chart(_f1_density(win), width="stretch", config=CHART_CONFIG)
    prof = src.error_profiles(uri, stamp)
    if prof is not None:
        c2.plotly_chart(_errors_by_pitch(prof), width="stretch", config=CHART_CONFIG)
        barred = win[~png_paths(win["path"])]  # a PNG roll's 4/4 was only assumed
        metres = barred.groupby(["metre", "steps_per_bar"]).size().sort_values(ascending=False)
        labels = [f"{m} ({s} steps per bar)" for m, s in metres.index]
        if not labels:
            st.caption("Errors by position in the bar: this index holds PNG piano rolls only, which have no bars.")
            return
        pick = st.selectbox("Metre", labels, persist_state="session", key=CK.METRE) if len(labels) > 1 else labels[0]
        metre, spbar = metres.index[labels.index(pick)]
        st.plotly_chart(_errors_by_position(win, prof, metre, int(spbar)), width="stretch",
                        config=CHART_CONFIG)


def _f1_density(win) -> go.Figure:
    w = win[win["f1_masked"].notna()]
    scored = len(w)
    if scored > MAP_POINTS:
        w = w.sample(MAP_POINTS, random_state=0)
    fig = go.Figure(go.Scatter(x=w["density"], y=w["f1_masked"], mode="markers",
                               marker=dict(size=4, opacity=0.5, color="#2c7fb8"),
                               hovertext=[f"{c}/{n} · {span}" for c, n, span in zip(
                                   w["collection"], w["name"],
                                   src.spans(w["start_step"], w["end_step"], w["steps_per_bar"], w["steps_per_beat"],
                                             w["path"]))],
                               hovertemplate="%{hovertext}<br>density %{x:.2f}, masked F1 %{y:.3f}<extra></extra>"))
    drawn = f" ({len(w):,} of the {scored:,} scored windows drawn)" if scored > len(w) else ""
    fig.update_layout(title="Masked F1 against note density" + drawn, xaxis_title="notes per beat",
                      yaxis_title="masked F1", height=360, margin=dict(l=50, r=10, t=40, b=40),
                      template="plotly_white")
    return fig


def _errors_by_pitch(prof: dict) -> go.Figure:
    err, on = prof["err_pitch"].sum(0), prof["on_pitch"].sum(0)
    keep = np.flatnonzero(on > 0)
    lo, hi = (int(keep[0]), int(keep[-1])) if keep.size else (0, 127)
    pitches = np.arange(lo, hi + 1)
    rate = err[lo:hi + 1] / np.maximum(on[lo:hi + 1], 1)
    rate = np.where(on[lo:hi + 1] >= max(1, 0.01 * on.max()), rate, np.nan)  # too few note pixels to say
    ticks, names = note_ticks(lo, hi)
    fig = go.Figure(go.Bar(x=pitches, y=rate, marker_color="#2c7fb8",
                           customdata=np.stack([err[lo:hi + 1], on[lo:hi + 1]], 1),
                           hovertemplate="pitch %{x}: %{y:.2f} errors per note pixel "
                                         "(%{customdata[0]} errors, %{customdata[1]} note pixels)<extra></extra>"))
    fig.update_layout(title="Masked-patch errors by pitch", yaxis_title="errors per note pixel",
                      xaxis=dict(tickvals=ticks, ticktext=names), height=360, margin=dict(l=50, r=10, t=40, b=40),
                      template="plotly_white")
    return fig


def _errors_by_position(win, prof: dict, metre: str, spbar: int) -> go.Figure:
    """Errors per note pixel at each step of the bar, over the windows in `metre` (`prof`'s rows are `win`'s; a PNG
    roll's windows are left out, their bars only assumed)."""
    barred = ~png_paths(win["path"])
    sel = np.flatnonzero((win["metre"].to_numpy() == metre) & (win["steps_per_bar"].to_numpy() == spbar) & barred)
    err, on = np.zeros(spbar), np.zeros(spbar)
    width = prof["err_step"].shape[1]
    starts = win["start_step"].to_numpy()[sel]
    pos = (starts[:, None] + np.arange(width)[None, :]) % max(spbar, 1)
    np.add.at(err, pos.ravel(), prof["err_step"][sel].ravel())
    np.add.at(on, pos.ravel(), prof["on_step"][sel].ravel())
    spb = int(win["steps_per_beat"].iloc[sel[0]]) if sel.size else 4
    # "beat:step", as bars read "bar:beat" on the piece page ("1.2" read as a decimal)
    labels = [f"{s // spb + 1}" + (f":{s % spb + 1}" if s % spb else "") for s in range(spbar)]
    fig = go.Figure(go.Bar(x=labels, y=err / np.maximum(on, 1), marker_color="#2c7fb8",
                           customdata=np.stack([err, on], 1),
                           hovertemplate="beat %{x}: %{y:.2f} errors per note pixel (%{customdata[0]:.0f} errors, "
                                         "%{customdata[1]:.0f} note pixels)<extra></extra>"))
    fig.update_layout(title=f"Masked-patch errors by position in the bar ({metre}, {counted(len(sel), 'window')})",
                      xaxis_title="beat:step within the bar", yaxis_title="errors per note pixel", height=320,
                      margin=dict(l=50, r=10, t=40, b=40), template="plotly_white")
    return fig


# ---------------------------------------------------------------- search from the corpus


def render_search(uri: str, stamp: str, index) -> None:
    """Pick a passage of the corpus and find its nearest neighbours."""
    from midi_rae.index import copies, default_level, read_as_indexed, search_passage, stored_window
    from midi_rae.pianoroll import start_bars

    pieces, _ = src.tables(uri, stamp)
    labels = [f"{c}/{n}" for c, n in zip(pieces["collection"], pieces["name"])]
    if not labels:
        st.info("The index has no pieces.")
        return
    order = sorted(range(len(labels)), key=lambda i: labels[i].casefold())  # listed by name
    if st.session_state.get(CK.Q_INDEX) != uri:  # another index: its own pieces, from its first (a stale number
        st.session_state[CK.Q_PIECE], st.session_state[CK.Q_BAR] = order[0], 1  # named another piece)
        st.session_state[CK.Q_INDEX] = uri
    c1, c2, c3, c4 = st.columns([4, 1, 2, 2], vertical_alignment="bottom")
    pick = c1.selectbox("Piece", order, format_func=lambda i: labels[i],
                        persist_state="session", key=CK.Q_PIECE)
    row = pieces.iloc[pick]
    # the last bar a window starts at, as on the piece page: a window from a later bar holds bars of silence
    last = start_bars(int(row["steps"] or 0), max(int(row["steps_per_bar"]), 1),
                      int(index.meta.get("window_steps", 128)))
    if (st.session_state.get(CK.Q_BAR) or 1) > last:  # a bar of the piece picked before, past this one's end
        st.session_state[CK.Q_BAR] = last
    # no default value beside the one in session state (Streamlit warns of the two); no bounds either: the browser
    # would keep a number typed outside them to itself (a red box) and the search would go on from the bar before
    spbar = max(int(row["steps_per_bar"]), 1)
    png = png_path(row["path"])  # no bars of its own: the index's blocks of a nominal 4/4 bar's steps
    bar = c2.number_input(f"Bar ({spbar} steps)" if png else "Bar", None, None, step=1, persist_state="session",
                          key=CK.Q_BAR, on_change=_bar_typed, args=(last, int(row["piece_id"])),
                          help=(f"1 to {last}: a PNG roll has no bars, so n is the window from step {spbar}×(n − 1)"
                                if png else f"1 to {last}: the bars a window of the piece starts at"))
    bar = int(bar or 1)
    cut = st.session_state.get(CK.Q_BAR_CUT)
    if cut is not None and cut[:2] == (int(row["piece_id"]), bar):  # until another bar or piece
        st.caption("Bars are counted from 1: bar 1 is searched." if cut[2] == "low" else
                   f"The last window of {display_name(row['name'])} starts at bar {last} (a window from a later bar "
                   f"would hold bars of silence): bar {last} is searched.")
    grids = index.meta["grids"]
    level = c3.selectbox("Level", list(range(index.levels)), index=default_level(index.levels),
                         format_func=lambda k: level_name(k, grids),
                         persist_state="session", key=CK.Q_LEVEL)
    invariant = c4.toggle("Any transposition", persist_state="session", key=CK.Q_TRANSPOSE)
    # with the index's version: after an update the same question gets a fresh answer
    qkey = ("corpus", uri, stamp, int(row["piece_id"]), int(bar), int(level), bool(invariant))
    results = st.session_state.setdefault(CK.RESULTS, {})
    if st.button("Find similar passages", type="primary", key="corpus_search"):
        path = index.resolve(row["path"], row["rel"])
        made_by = index_model.built_with(index.meta)  # the query in the index's own space, never another model's
        if made_by is None:
            st.error(index_model.missing_sentence(index.meta))
            return
        start = (int(bar) - 1) * max(int(row["steps_per_bar"]), 1)
        try:
            bundle = _bundle(made_by)  # a CheckpointError (a ValueError) where the file went since it was found
            store = src.open_index(uri, stamp)
            if path is None:  # the file is not on this server: the index's own image of the window is the query
                roll, start = stored_window(store, int(row["piece_id"]), start)
                query_bar = 1
            else:
                roll = read_as_indexed(index.meta, path)
                query_bar = int(bar)
            same = copies(store, int(row["piece_id"]))  # itself, and files of the same bytes
            own = own_ranges(index.meta, same, start)
            results[qkey] = (search_passage(store, roll, query_bar, int(level), None, bool(invariant), HITS,
                                            bundle=bundle, avoid=own), start, path is None, len(same) - 1)
        except ValueError as e:  # the file changed since it was indexed, or the index is another model's
            st.error(f"{display_name(row['name'])}: {e}")
            return
    if qkey in results:
        hits, start, stored, n_copies = results[qkey]
        spbar = max(int(row["steps_per_bar"]), 1)
        if stored:
            st.caption(f"The file of {display_name(row['name'])} is not reachable from this server, so the search "
                       "starts from the index's own image of its window"
                       + (" nearest before that bar." if start != (int(bar) - 1) * spbar else "."))
        where = src.window_span(start, int(index.meta.get("window_steps", 128)),
                                int(row["steps"] or 0), spbar, int(row["steps_per_beat"]), row["path"])
        label = f"{display_name(row['collection'])}/{display_name(row['name'])}"
        copied = (f" The same window of {counted(n_copies, 'identical copy', 'identical copies')} of the file in the "
                  f"index is left out, as its own is." if n_copies else "")
        st.caption(f"Nearest to the window {where} of {label} "
                   f"at level {level} (cosine){', in any transposition' if invariant else ''}.{copied}")
        render_cards(hits, index, "search", query=str(hash(qkey)))


def _bar_typed(last: int, piece_id: int) -> None:
    """A bar typed before the first or past the piece's end becomes its first or last bar, and the page says so
    (an emptied box is bar 1, silently)."""
    typed = st.session_state.get(CK.Q_BAR)
    if typed is None:
        st.session_state[CK.Q_BAR] = 1
    elif not 1 <= typed <= last:
        used, why = (1, "low") if typed < 1 else (last, "high")
        st.session_state[CK.Q_BAR], st.session_state[CK.Q_BAR_CUT] = used, (piece_id, used, why)


# ---------------------------------------------------------------- the page


def main() -> None:
    """Sidebar (the index), a summary line, then the open tab."""
    from . import url_state

    url_state.carry_over()  # a piece page's address opened here: the Piece page opens it
    uri = index_section()
    st.markdown("### midi-rae explorer — corpus")
    if uri is None:
        st.info("Pick or build a corpus index in the sidebar.")
        return
    stamp = src.stamp(uri)
    try:
        index = src.view(uri, stamp)
        n_pieces, n_collections = src.summary(uri, stamp)
        n_windows = len(src.map_columns(uri, stamp)["piece_id"])
    except Exception as e:  # noqa: BLE001 - a folder that is not a readable index: say so in one sentence
        st.error(str(unreadable(Path(uri).name, e)))
        return
    st.session_state[CK.CURRENT] = uri
    meta = index.meta
    failures = index.failures()
    failed = len(failures)
    name = index_name(uri)
    st.caption(f"**{name}** · {counted(n_pieces, 'piece')} in {counted(n_collections, 'collection')} · "
               f"{n_windows:,} windows · model {display_name(str(meta.get('checkpoint')))} ({counted(int(meta['levels']), 'level')})"
               + (f" · {counted(failed, 'file')} could not be read" if failed else ""))
    # a damaged table shows at once, not only in the tabs that read it (the shipped corpus is part of the install,
    # and its map opens without lancedb)
    broken = None if Path(uri).resolve() == src.SHIPPED_INDEX.resolve() else src.damage(uri, stamp)
    if broken:
        st.warning(f"{broken} Its map is drawn from the snapshot written with it; the search and the reconstruction "
                   "views need it rebuilt.")
    if failures:  # kept with the index, so the list outlives the run that built it
        with st.expander(f"{counted(failed, 'file')} could not be read: which, and why"):
            st.markdown("\n".join(f"- {display_name(p)}: {e}" for p, e in failures[:200])
                        + (f"\n- and {counted(failed - 200, 'other')}" if failed > 200 else ""))
    if not n_windows:
        st.info("None of the files could be read, so the index has no windows." if failed else
                "The index has no windows yet.")
        return
    session.restore_tab(CK.TAB, TABS)
    tabs = st.tabs(TABS, key=CK.TAB, on_change="rerun")
    for tab, render in zip(tabs, (render_map, render_reconstruction, render_search)):
        with tab:
            if tab.open:
                with src.damage_shown(uri):
                    render(uri, stamp, index)
