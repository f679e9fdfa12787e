"""Sidebar sections: each returns the parameters it sets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import streamlit as st

from midi_rae.checkpoint_meta import DEFAULT_CHECKPOINT, CheckpointError
from midi_rae.config import ModelConfig
from midi_rae.inference import MaskSettings
from midi_rae.pianoroll import GRID_RESOLUTIONS, MAX_MIDI_BYTES, MB
from midi_rae.wording import counted

from . import session, url_state
from .names import display_name, display_path, folder_checkpoint_label
from .session import K
from .sources import (checkpoint_config, checkpoint_folder, decoders_beside, digest, example_files, folder_checkpoints,
                      model_card, shipped_checkpoints)
from .uploads import SOURCE_SUFFIXES

# every resolution the grid warning may name (pianoroll.grid_fit_note), so the one it names can be picked
STEPS_PER_BEAT_CHOICES = list(GRID_RESOLUTIONS)


@dataclass
class ModelChoice:
    """The checkpoint chosen, before it is loaded: its files, how to name it, and what its header declares.

    The sidebar only chooses; loaders.load_choice loads (torch), so the page can draw the piece first.
    """

    key: str
    label: str
    encoder: str | bytes | None = None   # path or uploaded bytes; None = the shipped default
    decoder: str | bytes | None = None
    config: dict | None = None           # from the header; {} until loaded for original-format files
    meta: dict | None = None

    @property
    def file_names(self) -> tuple[Optional[str], Optional[str]]:
        """How messages name the files (encoder, decoder): uploaded bytes by their files' names, from the label;
        paths by their own names made safe to show (a server folder's files are named by whoever put them there)."""
        files = self.label.split(" + ")

        def name(src, i: int) -> Optional[str]:
            if isinstance(src, bytes):
                return files[i] if len(files) > i else None
            return display_name(Path(src).name) if src is not None else None

        return name(self.encoder, 0), name(self.decoder, 1)


DEFAULT_CHOICE = ModelChoice("default", "shipped default")


@dataclass
class Piece:
    """The MIDI file in use."""

    data: bytes
    key: str
    name: str
    uploaded: bool = False
    address: Optional[str] = None  # a shipped-corpus piece's path under the corpus's MIDI folder (for its URL)


@dataclass
class ViewSettings:
    """Everything the per-window views depend on: where the window starts, and how it is masked."""

    start_bar: int
    mask: MaskSettings


@st.cache_data(max_entries=32, show_spinner=False)
def _file_digest(path: str, mtime: float, size: int) -> str:
    """The content hash of a checkpoint file (once per version of it)."""
    return digest(Path(path).read_bytes())


def _contents(choice: ModelChoice) -> Optional[tuple[Optional[str], ...]]:
    """(encoder, decoder) of a choice by content: an upload and a file of the same bytes are the same model. An
    upload's digests are in its key; None where a file is over the model limit (its loading refuses it)."""
    from midi_rae.checkpoint_meta import max_model_bytes

    if choice.key.startswith("upload:"):
        parts = choice.key.split(":")[1:]
        return parts[0], (parts[1] if len(parts) > 1 else None)
    out = []
    for src in (choice.encoder if choice.encoder is not None else str(DEFAULT_CHECKPOINT), choice.decoder):
        if src is None:
            out.append(None)
            continue
        stat = Path(src).stat()
        if stat.st_size > max_model_bytes():
            return None
        out.append(_file_digest(str(src), stat.st_mtime, stat.st_size))
    return tuple(out)


def same_model(a: ModelChoice, b: ModelChoice) -> bool:
    """Are two choices the same checkpoint (the same files' contents, however each was picked)?"""
    if a.key == b.key:
        return True
    try:
        ca, cb = _contents(a), _contents(b)
    except OSError:  # a file gone since it was picked: its loading says so
        return False
    return ca is not None and ca == cb


def _with_header(choice: ModelChoice) -> ModelChoice:
    # the shipped file's header is cached by its time stamp, so replacing it on a running server is seen
    stamp = DEFAULT_CHECKPOINT.stat().st_mtime if DEFAULT_CHECKPOINT.exists() else 0
    key = choice.key if choice.encoder is not None else f"default:{stamp}"
    cfg, meta = checkpoint_config(key, choice.encoder, choice.file_names[0])
    return ModelChoice(choice.key, choice.label, choice.encoder, choice.decoder, cfg, meta)


def _chosen(source: str, folder: Optional[Path], prefix: str = "") -> Optional[ModelChoice]:
    """The checkpoint picked in the widgets for `source`, with its header read (None: nothing picked)."""
    if source == "Shipped default":
        return DEFAULT_CHOICE
    shipped = {_shipped_label(p): p for p in shipped_checkpoints()}
    if source in shipped:
        p = shipped[source]
        return ModelChoice(f"shipped:{p.name}:{p.stat().st_mtime}", f"shipped {p.stem}", str(p))
    if source == "Upload":
        return _uploaded_checkpoint(prefix)
    if source == "Server folder" and folder is not None:
        return _folder_checkpoint(folder, prefix)
    return None


def shipped_sources() -> list[str]:
    """The checkpoint sources that name a shipped model (those a URL may name)."""
    return ["Shipped default"] + [_shipped_label(p) for p in shipped_checkpoints()]


def _shipped_label(path: Path) -> str:
    return f"Shipped {path.stem}"


def _usable(choice: Optional[ModelChoice], role: str = "") -> Optional[ModelChoice]:
    """The choice with its header read, or None after showing why it cannot be used (`role`: "B", where the
    sentence must say which of the two checkpoints it is about)."""
    if choice is None:
        return None
    failed = session.checkpoint_failure(choice.key)
    if failed is None:
        try:
            return _with_header(choice)
        except CheckpointError as e:
            failed = str(e)
            session.remember_checkpoint_failure(choice.key, failed)
    st.sidebar.error(f"{role}: {failed}" if role else failed)
    return None


def checkpoint_section() -> tuple[ModelChoice, "st.delta_generator.DeltaGenerator"]:
    """Pick the checkpoint: the shipped default, an upload, or a file from the server's folder.

    Returns the choice and an empty slot under the picker for a description once the model is loaded. A
    checkpoint that cannot be used gets its sentence in the sidebar, and the page stays on the last model
    that loaded (the shipped default at first).
    """
    st.sidebar.header("Checkpoint")
    folder = checkpoint_folder()
    options = shipped_sources() + ["Upload"] + (["Server folder"] if folder else [])
    source = st.sidebar.radio("Checkpoint source", options, horizontal=True, persist_state="session", key=K.CKPT_SOURCE,
                              label_visibility="collapsed")
    picked = _chosen(source, folder) if source != "Shipped default" else None
    choice = _usable(picked)  # an upload is kept once it has loaded (session.accept_checkpoint)
    if choice is None and picked is not None:
        # a bad file dropped over a good one: the good one, not what the browser's empty step in between showed
        previous = (session.replaced_checkpoint() or session.replaced_decoder() if source == "Upload" else None) \
            or session.last_good_checkpoint()
        if previous is not None and session.checkpoint_failure(previous.key) is None:
            st.sidebar.caption(f"Still using {previous.label}.")
            choice = previous
    if choice is None:
        try:
            choice = _with_header(DEFAULT_CHOICE)
        except CheckpointError as e:
            st.error(str(e))
            st.stop()
    slot = st.sidebar.empty()
    card = model_card(choice.encoder)
    if card is not None and st.sidebar.button("Model card", key=K.MODEL_CARD, help="How this model was trained and "
                                              "what it scores on data it never saw"):
        _show_card(str(card))
    return choice, slot


@st.dialog("Model card", width="large")
def _show_card(path: str) -> None:
    st.markdown(Path(path).read_text(encoding="utf-8"))


def _uploaded_checkpoint(prefix: str = "") -> Optional[ModelChoice]:
    enc = st.sidebar.file_uploader("Encoder, or encoder + decoder (.safetensors / original .pt)",
                                   type=["safetensors", "pt", "pth", "ckpt"], key=prefix + K.CKPT_UPLOAD,
                                   on_change=_checkpoint_upload_changed, args=(prefix,))
    dec = st.sidebar.file_uploader("Decoder (optional, if in a separate file)",
                                   type=["safetensors", "pt", "pth", "ckpt"], key=prefix + K.DEC_UPLOAD,
                                   on_change=_decoder_upload_changed if not prefix else None)
    if enc is None:
        session.emptying_holds(prefix)
        kept = session.kept_checkpoint(prefix)
        if kept is not None:  # Streamlit empties an uploader whenever its page is left: the model stays
            st.sidebar.caption(f"Using **{kept.label}**, dropped earlier (the uploader empties when you visit the "
                               "Corpus page); pick another source to leave it.")
            return kept
        if prefix:
            st.sidebar.info("Drop a checkpoint above; until then nothing is compared.")
            return None
        before = session.model_before_upload() or DEFAULT_CHOICE  # picking "Upload" changes nothing yet
        st.sidebar.info(f"Drop a checkpoint above; until then **{before.label}** stays in use.")
        return before
    eb, db = enc.getvalue(), dec.getvalue() if dec is not None else None
    key = "upload:" + digest(eb) + (":" + digest(db) if db else "")
    return ModelChoice(key, display_name(enc.name) + (f" + {display_name(dec.name)}" if dec else ""), eb, db)


def _decoder_upload_changed() -> None:
    session.decoder_emptied(st.session_state.get(K.DEC_UPLOAD) is None)


def _checkpoint_upload_changed(prefix: str) -> None:
    """A checkpoint removed from its uploader (×) is not used again."""
    session.emptied(prefix, st.session_state.get(prefix + K.CKPT_UPLOAD) is None)


def _folder_checkpoint(folder: Path, prefix: str = "") -> Optional[ModelChoice]:
    files = folder_checkpoints(folder)
    if not files:
        st.sidebar.warning(f"No checkpoint files in {folder}.")
        return None
    path = st.sidebar.selectbox("Checkpoint file", files, format_func=lambda p: display_path(p.relative_to(folder)),
                                key=prefix + K.CKPT_FILE, persist_state="session")
    partners = decoders_beside(path)
    partner = partners[0] if partners else None
    if len(partners) > 1:  # the original code saves a SwinDecoder and a SwinMAEDecoder beside one encoder
        names = [display_name(p.name) if p is not None else f"SwinDecoder in {display_name(path.name)}"
                 for p in partners]
        if st.session_state.get(prefix + K.CKPT_DECODER_FILE) not in names:  # chosen beside another encoder
            st.session_state.pop(prefix + K.CKPT_DECODER_FILE, None)
        name = st.sidebar.selectbox("Decoder", names, key=prefix + K.CKPT_DECODER_FILE, persist_state="session",
                                    help="Decoders saved beside this encoder.")
        partner = partners[names.index(name)]
    stamp = f"{path}:{path.stat().st_mtime}" + (f":{partner}:{partner.stat().st_mtime}" if partner else "")
    label = folder_checkpoint_label(folder, path, partner)
    return ModelChoice("folder:" + stamp, label, str(path), str(partner) if partner else None)


def describe(choice: ModelChoice, bundle) -> str:
    """One line on the loaded model: name, levels, patch, width, decoder, training steps."""
    cfg, meta = bundle.config, bundle.meta
    dec = {"swin": "SwinDecoder", "mae": "SwinMAEDecoder"}.get(cfg.get("decoder_type"), "no decoder")
    bits = [f"**{choice.label}**", f"{counted(bundle.num_levels, 'level')}, patch {cfg['patch_h']}×{cfg['patch_w']}, "
            f"embed_dim {cfg['embed_dim']}, {dec}"]
    if meta.get("step"):
        bits.append(training_words(meta))
    return " · ".join(bits)


def training_words(meta: dict) -> str:
    """The checkpoint's own training in a few words: the steps its weights had (a run's best checkpoint: the step
    it was saved at, not the run's last), windows a step and the start where recorded (a fine-tuned model's step
    count is its last run's alone, at its own batch size)."""
    tc = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    batch = tc.get("batch_size") if isinstance(tc.get("batch_size"), int) else None
    words = f"trained {meta['step']:,} steps" + (f" of batch {batch:,}" if batch else "")
    return words + (", fine-tuned from another checkpoint" if tc.get("init") else "")


AB_WHERE = "The comparison is drawn under the masked reconstruction, before Listen and download."


def compare_section() -> Optional[ModelChoice]:
    """An optional second checkpoint (B) to show beside the first on the same window and mask."""
    st.sidebar.header("Compare (A/B)")
    folder = checkpoint_folder()
    options = (["Off", "Shipped default"] + [_shipped_label(p) for p in shipped_checkpoints()] + ["Upload"]
               + (["Server folder"] if folder else []))
    source = st.sidebar.selectbox("Second checkpoint (B)", options, persist_state="session", key=K.B_SOURCE)
    picked = _chosen(source, folder, "b_")
    choice = _usable(picked, "Not used as B")
    if choice is None and picked is not None and source == "Upload":
        # a bad file dropped over a good B: the comparison goes on with the good one, as A does
        previous = session.replaced_checkpoint("b_")
        if previous is not None and session.checkpoint_failure(previous.key) is None:
            st.sidebar.caption(f"Still comparing with {previous.label}.")
            choice = previous
    if choice is not None and source == "Upload":
        session.keep_checkpoint("b_", choice)
    if choice is not None:
        st.sidebar.caption(AB_WHERE)
    return choice


UPLOAD_SHOWN = "Showing the dropped file; pick an example to see that instead."
UPLOAD_REFUSED = "The dropped file could not be opened; pick an example or drop another file."
UPLOAD_REFUSED_KEPT = ("The dropped file could not be opened; still showing {name}, shown before it. Pick an example "
                       "or drop another file.")


def piece_section() -> tuple[Optional[Piece], Optional[Any]]:
    """Pick the MIDI file: a bundled example or a drag-and-drop upload. A bad file keeps the last good one.

    Returns the piece and, for a dropped file, the sidebar slot that says whether it is shown (UPLOAD_SHOWN or
    UPLOAD_REFUSED: known once the page has tried to open it)."""
    st.sidebar.header("MIDI file")
    examples = example_files()
    # the widget's own limit, so the uploader states one size (the server's 64 MB is for checkpoints)
    up = st.sidebar.file_uploader("Drop a .mid / .midi file (or a PNG piano roll)", type=[s[1:] for s in SOURCE_SUFFIXES],
                                  key=K.MIDI_UPLOAD, max_upload_size=MAX_MIDI_BYTES // MB,
                                  on_change=_upload_changed)
    names = [p.name for p in examples]
    session.restore_example_after_refusal(getattr(up, "file_id", None))
    # never disabled: a file in the uploader (even one that could not be opened) need not be removed first
    # empty while a dropped file or a Corpus passage is shown (session.leave_example)
    key = session.widget_key(K.EXAMPLE)
    pick = st.sidebar.selectbox("…or pick an example", names, on_change=_example_picked, args=(key,),
                                placeholder="Pick an example", persist_state="session", key=key) if names else None
    session.widget_drawn(K.EXAMPLE, pick)
    session.remember_seen(getattr(up, "file_id", None), pick)
    note = st.sidebar.container()  # what is shown: a slot drawn on every run (see page.main's notes)
    if session.emptied_now("midi"):
        st.session_state[_SETTLE_CALLS] = 0
        with note:
            _settle_removal()
    if up is None and session.emptying_holds("midi") and not session.kept_after_removal():
        session.forget_upload()  # removed by the user: a bad file dropped later falls back to what is shown
    opened = session.opened_piece()
    if opened is not None and (up is None or session.opened_over(up.file_id)):
        note.caption(f"Showing **{opened.name}**, opened from the corpus.")
        note.button("Close it", on_click=session.close_opened_piece, key="close_opened")
        return opened, None
    if up is not None and st.session_state.get(K.EXAMPLE_OVER_UPLOAD) != up.file_id:
        data = up.getvalue()
        return Piece(data, digest(data), display_name(up.name), uploaded=True), note.empty()
    kept = session.kept_upload() if up is None and not session.upload_removed() else None
    if kept is not None:  # a bad file dropped over it was removed, or its page was left (Streamlit empties the
        # uploader then): the file is still shown
        why = ("dropped before the file you removed" if session.kept_after_removal() else
               "dropped earlier (the uploader empties when you visit the Corpus page)")
        note.caption(f"Showing **{kept.name}**, {why}; pick an example to leave it.")
        return kept, None
    if not names:
        note.warning("No example files are bundled; drop a MIDI file above.")
        return None, None
    if pick not in names:  # nothing else left to show: the example shown before, else the first
        last = session.last_example()
        pick = last if last in names else names[0]
    if up is not None:
        refused = session.refused_upload(up.file_id)
        note.caption(f"Showing the example: the dropped file, {refused}, could not be opened (the page says why); "
                     "remove it (×) or drop another." if refused is not None else
                     "Showing the example; the dropped file stays in the uploader until removed (×).")
    data = examples[names.index(pick)].read_bytes()
    return Piece(data, digest(data), pick), None


SETTLE_S = 1.5  # after an uploader is emptied: a drop over its file sends the new file well within this
_SETTLE_CALLS = "_settle_calls"  # calls of _settle_removal since the run that drew it (the first is that run's)


@st.fragment(run_every=SETTLE_S)
def _settle_removal() -> None:
    """Drawn on the run an uploader was emptied in, which cannot tell the user's × from the first step of a drop
    over its file (so it leaves the address as it was): where no file has come SETTLE_S later, the page runs once
    more, and that run, knowing it was a ×, puts the piece shown in the address."""
    calls = st.session_state.get(_SETTLE_CALLS, 0) + 1  # the first is the call within the full run
    st.session_state[_SETTLE_CALLS] = calls
    if calls > 1 and st.session_state.get(K.MIDI_UPLOAD) is None and session.emptied_now("midi"):
        st.rerun(scope="app")


def _upload_changed() -> None:
    """A file dropped or removed (×): a removed one is not shown again; either closes a piece opened from the
    Corpus page. (Dropping a file over another also passes through an empty uploader: the last good upload is
    kept for a bad file to fall back to, as before.)"""
    removed = st.session_state.get(K.MIDI_UPLOAD) is None
    session.mark_upload_removed(removed)
    session.emptied("midi", removed)
    session.close_opened_piece()
    if removed and not session.kept_after_removal():
        session.return_to_example()
    elif not removed:
        session.leave_example()


def _example_picked(key: str) -> None:
    """An example picked (in the picker drawn under `key`) wins over the file in the uploader (until another file is
    dropped)."""
    picked = st.session_state.get(key)
    if key != session.widget_key(K.EXAMPLE):  # picked in a picker the page had just replaced (a drop's run): the
        session.set_widget(K.EXAMPLE, picked)  # new one shows the pick
    else:  # the pick, before close_opened_piece gives the picker an example of its own
        session.widget_drawn(K.EXAMPLE, picked)
    up = st.session_state.get(K.MIDI_UPLOAD)
    if session.stale_pick(getattr(up, "file_id", None)):
        session.set_widget(K.EXAMPLE, None)  # the drop is what shows (_upload_changed: leave_example)
        return
    st.session_state[K.EXAMPLE_OVER_UPLOAD] = getattr(up, "file_id", None)
    session.forget_upload()
    session.close_opened_piece()


def own_resolution(config: dict) -> int:
    """The steps per beat a checkpoint was trained at, where it records one the page offers; else 4."""
    stored = config.get("steps_per_beat")
    return stored if stored in STEPS_PER_BEAT_CHOICES else 4


SUSTAIN_LABEL = "Sustain pedal"
SUSTAIN_HELP = ("On: a note the sustain pedal holds sounds until the pedal lifts (or its key is struck again), as a "
                "piano plays it. Off: each note is drawn as long as its key was held, as pretty_midi and the original "
                "midi-rae read MIDI. A piece without pedal data reads the same either way.")


def time_section(config: dict, png: bool = False) -> tuple[int, int, bool]:
    """Steps per beat (the checkpoint's own when it records one), transposition, and whether the sustain pedal is
    applied. A PNG roll's columns are its steps already, so for one the resolution is fixed (and it has no pedal)."""
    st.sidebar.header("Time and pitch")
    stored = config.get("steps_per_beat")
    default = own_resolution(config)
    help_ = ("A PNG piano roll's columns are its time steps: there is no resolution to choose." if png else
             "Stored in this checkpoint; change it only to see what the model does at another resolution."
             if stored else "This checkpoint does not record the resolution it was trained at; choose it here.")
    key = session.spb_key(stored)
    linked = url_state.linked_value(url_state.LINK_SPB, default)
    if linked is not None and not png:
        st.session_state[key] = linked
    spb = st.sidebar.select_slider("Time resolution (steps per beat)", STEPS_PER_BEAT_CHOICES, key=key,
                                   **session.stated_value(key, default), help=help_, disabled=png,
                                   persist_state="session")
    spb = default if png else spb
    st.session_state.setdefault(K.TRANSPOSE, 0)  # the state, not a default value, sets it (an address, a corpus hit)
    semis = st.sidebar.slider("Transpose (semitones)", -12, 12, persist_state="session", key=K.TRANSPOSE)
    st.session_state.setdefault(K.SUSTAIN, False)
    pedal = st.sidebar.toggle(SUSTAIN_LABEL, persist_state="session", key=K.SUSTAIN, disabled=png,
                              help=SUSTAIN_HELP)
    return spb, semis, bool(pedal) and not png


def own_empty_ratio(config: dict) -> float:
    """The empty mask ratio the checkpoint trained with (the slider's start)."""
    return float(config.get("empty_mask_ratio", 0.05))


def own_threshold(meta: dict) -> float:
    """The threshold the checkpoint stores (chosen on validation), else 0.5: the slider's start."""
    return float(meta.get("threshold", 0.5))


def view_section(n_bars: int, config: dict, meta: dict, bar_steps: int = 0, steps_only: bool = False) -> ViewSettings:
    """Window position, masking and binarization controls (`bar_steps`: a bar's length in steps; `steps_only`: a PNG
    roll, which has no bars, so the window moves in blocks of that many steps and says so)."""
    st.sidebar.header("Window")
    max_bar = max(int(n_bars), 1)
    session.keep_window_across_ranges(max_bar)
    width = ModelConfig.from_dict(config).window_steps if config else 128
    box = st.sidebar.container()  # a slider or a caption: in one slot, so the controls after it keep their places
    label, where = ((f"Window start (block of {bar_steps} steps)", "the overview") if steps_only else
                    ("Window start (bar)", "a bar in the overview"))
    start_bar = box.slider(label, 1, max_bar, persist_state="session", key=K.WINDOW_BAR, disabled=max_bar == 1,
                           help=f"The model sees {width} steps at a time; click {where} to jump." +
                           (f" Block b starts at step {bar_steps} × (b − 1)." if steps_only else "")) \
        if max_bar > 1 else 1
    if max_bar == 1:
        box.caption(f"The whole piece fits in one window of {width} steps, starting at "
                    f"{'step 0' if steps_only else 'bar 1'}.")
    if bar_steps > width:  # windows start on bars: the rest of each bar is in none of them
        box.caption(f"A bar is {bar_steps} steps at this resolution, longer than the model's window: each window "
                    f"shows the first {width} steps of its bar.")
    session.window_drawn(start_bar)
    st.sidebar.header("Masking")
    st.session_state.setdefault(K.MASK_RATIO, url_state.DEFAULT_MASK)  # the state sets it (an address, Back)
    mr = st.sidebar.slider("Mask ratio", 0.0, 1.0, step=0.05, persist_state="session", key=K.MASK_RATIO,
                           help="The chance that each non-empty patch is hidden from the encoder (each is drawn on "
                                "its own: the share hidden varies around it, and the reconstruction says what it was).")
    default_emr = own_empty_ratio(config)
    linked = url_state.linked_value(url_state.LINK_EMPTY, default_emr)
    if linked is not None:
        st.session_state[K.EMPTY_MASK_RATIO] = linked
    emr = st.sidebar.slider("Empty mask ratio", 0.0, 1.0, step=0.05,
                            **session.stated_value(K.EMPTY_MASK_RATIO, default_emr),
                            persist_state="session", key=K.EMPTY_MASK_RATIO,
                            help="Empty patches are hidden at mask ratio × this.")
    c1, c2 = st.sidebar.columns([3, 2], vertical_alignment="bottom")
    seed = c1.number_input("Mask seed", 0, url_state.MAX_SEED, step=1,
                           persist_state="session", key=K.MASK_SEED)
    c2.button("New mask", on_click=session.new_mask, width="stretch")
    st.sidebar.header("Display")
    own = meta.get("threshold")
    tkey = session.threshold_key(meta.get("threshold", 0.5))
    linked = url_state.linked_value(url_state.LINK_THRESHOLD, own_threshold(meta))
    if linked is not None:
        st.session_state[tkey] = linked
    thr = st.sidebar.slider("Binarization threshold", 0.05, 0.95, step=0.05, key=tkey, persist_state="session",
                            **session.stated_value(tkey, own_threshold(meta)),
                            help=(f"A pixel is a note where the decoder's probability reaches this. It starts at this "
                                  f"checkpoint's own, chosen on validation ({float(own):.2f}), so another checkpoint "
                                  f"may start elsewhere." if isinstance(own, (int, float)) else
                                  "A pixel is a note where the decoder's probability reaches this. This checkpoint "
                                  "stores no threshold chosen on validation: it starts at 0.5."))
    return ViewSettings(int(start_bar), MaskSettings(float(mr), float(emr), int(seed), float(thr)))
