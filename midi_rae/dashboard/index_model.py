"""The model a corpus index was built with, found among the checkpoints this server and session know.

An index's embeddings mean something only to the model that made them: a query encoded by another model (even one
of the same architecture, as the shipped models are) is compared in another space, and its "nearest" passages are
noise. The index stores its model's content hash (`index.checkpoint_key`); this module looks for a checkpoint with
that hash: the file the index names, the shipped ones, the server's checkpoint folder, and those dropped in this
session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import streamlit as st

from . import session
from .names import folder_checkpoint_label
from .sidebar import DEFAULT_CHOICE, ModelChoice
from .sources import checkpoint_folder, decoders_beside, folder_checkpoints, shipped_checkpoints


@st.cache_data(max_entries=256, show_spinner=False)
def _content_keys(stamp: str, _encoder: str | bytes | None, _decoder: str | bytes | None) -> tuple[str, ...]:
    """The keys an index built with these files may store (none where unreadable): `index.checkpoint_key`, and
    for a checkpoint without a separate decoder also `index.content_hash` of it, which `build_index` stores for one
    given as bytes (a drop). `stamp` names the files and their versions."""
    from midi_rae.checkpoint_meta import DEFAULT_CHECKPOINT
    from midi_rae.index import checkpoint_key, content_hash

    try:
        keys = [checkpoint_key(None, _encoder, _decoder)]
        if _decoder is None:
            data = _encoder if isinstance(_encoder, (bytes, bytearray)) else \
                Path(_encoder if _encoder is not None else DEFAULT_CHECKPOINT).read_bytes()
            keys.append(content_hash(bytes(data)))
    except OSError:
        return ()
    return tuple(keys)


def _stamp(src: str | None) -> str:
    if src is None:  # the shipped default: by its file, which a running server may see replaced
        from midi_rae.checkpoint_meta import DEFAULT_CHECKPOINT

        src = str(DEFAULT_CHECKPOINT)
    p = Path(src)
    st_ = p.stat()
    return f"{p.resolve()}:{st_.st_mtime_ns}:{st_.st_size}"


def content_keys(choice: ModelChoice, with_decoder: bool = True) -> tuple[str, ...]:
    """The content hashes an index built with this checkpoint may store (with or without its separate decoder)."""
    dec = choice.decoder if with_decoder else None
    try:
        if isinstance(choice.encoder, (bytes, bytearray)):  # a drop: its key holds its content's digest already
            stamp = f"{choice.key}|{dec is not None}"  # (hashing 11 MB again on every run of the page is not)
        else:
            stamp = _stamp(choice.encoder) + "|" + (_stamp(dec) if dec is not None else "-")
    except OSError:
        return ()
    return _content_keys(stamp, choice.encoder, dec)


def _candidates(meta: dict) -> Iterator[ModelChoice]:
    """Checkpoints that may have built an index: the file it names, the page's own, the shipped, the server's."""
    named = Path(str(meta.get("checkpoint") or ""))
    if named.suffix and named.is_file():
        dec = Path(str(meta.get("decoder") or ""))
        dec_src = str(dec) if dec.suffix and dec.is_file() else None
        yield ModelChoice(f"file:{named.resolve()}:{named.stat().st_mtime}", named.name, str(named), dec_src)
    for choice in (session.last_good_checkpoint(), session.kept_checkpoint(""), session.kept_checkpoint("b_")):
        if choice is not None:
            yield choice
    yield DEFAULT_CHOICE
    for p in shipped_checkpoints():
        yield ModelChoice(f"shipped:{p.name}:{p.stat().st_mtime}", f"shipped {p.stem}", str(p))
    folder = checkpoint_folder()
    if folder is not None:
        for p in folder_checkpoints(folder):
            for partner in decoders_beside(p) or [None]:  # each decoder saved beside it (SwinDecoder, MAE)
                yield ModelChoice(f"folder:{p}:{p.stat().st_mtime}" + (f":{partner.name}" if partner else ""),
                                  folder_checkpoint_label(folder, p, partner), str(p),
                                  str(partner) if partner else None)


def built_with(meta: dict) -> Optional[ModelChoice]:
    """The checkpoint whose content is the index's model, or None where this server and session have none."""
    want = meta.get("checkpoint_key")
    if not want:
        return None
    for choice in _candidates(meta):
        for with_decoder in ((True, False) if choice.decoder is not None else (True,)):
            if want in content_keys(choice, with_decoder):
                return choice if with_decoder else ModelChoice(choice.key + ":encoder", choice.label, choice.encoder)
    return None


def is_built_with(meta: dict, choice: ModelChoice) -> bool:
    """Was the index built with this checkpoint (its encoder, with or without its separate decoder)?"""
    want = meta.get("checkpoint_key")
    return bool(want) and any(want in content_keys(choice, d) for d in (True, False))


def missing_sentence(meta: dict) -> str:
    """Why a search of this index cannot run here, and what to do."""
    from .names import display_name

    return (f"This index was built with {display_name(str(meta.get('checkpoint') or 'another checkpoint'))}, which "
            "this server does not have (it is not shipped, not in the server's checkpoint folder and not dropped in "
            "this session): drop that checkpoint on the Piece page, or put it in the checkpoint folder, to search "
            "the index with the model that made it.")


def shown_with_another(index_name: str, meta: dict, choice: ModelChoice) -> Optional[str]:
    """A sentence where a passage opened from an index is shown with another model than the one that built the
    index (its scores on the page are then not the map's nor the search cards'); None where it is the same."""
    from .names import display_name

    if is_built_with(meta, choice):
        return None
    made_by = built_with(meta)
    index = f"This passage was opened from the index *{display_name(index_name)}*"
    if made_by is None:
        return (f"{index}, built with {display_name(str(meta.get('checkpoint')))}, which this server does not have: "
                f"the page shows it with **{display_name(choice.label)}**, so its scores are not the index's.")
    return (f"{index}, built with **{display_name(made_by.label)}**; the page shows it with "
            f"**{display_name(choice.label)}**, so its scores are not the ones the index shows. Pick "
            f"{display_name(made_by.label)} as the checkpoint to see the passage as the index does.")

