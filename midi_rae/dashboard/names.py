"""A stranger's file name made safe to show: no markdown, HTML or link syntax survives in it."""
from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

MAX_NAME = 120
MAX_NAME_BYTES = 200  # a file system's limit is 255 bytes a name: 120 characters of CJK text are 360 in UTF-8
# letters and digits of any script, spaces and . , ( ) ' & + - # _ stay: what real file names use ("C# minor"), with
# "#" not first (a heading) and "_" only inside a word. The rest ([ ] ! < > * ` $ : ~ | and so on) would let a name
# draw a link, an image that fetches from another host, colour or maths in Streamlit's markdown, where names are
# shown in captions, headers and warnings.
_UNSAFE = re.compile(r"[^\w .,()'&+\-#]")
_UNDERSCORES = re.compile(r"_+")
_FORM_ESCAPES = re.compile(r"%22|%0D|%0A", re.IGNORECASE)


def display_name(name: str) -> str:
    """The last part of a file name with every other character replaced by "-" (not "_", which markdown reads
    as emphasis at a word's edge), at most MAX_NAME characters and MAX_NAME_BYTES bytes of UTF-8 (its suffix
    kept), never empty."""
    # browsers send a file name's " and line breaks as %22, %0D and %0A (the HTML standard's form-data encoding)
    base = re.split(r"[\\/]", _FORM_ESCAPES.sub("-", str(name)))[-1]
    safe = _UNSAFE.sub(_symbol_or_dash, base).strip()
    # underscores inside a word stay (bwv_250.mid); at a word's edge markdown reads them as emphasis: _intro_ take
    safe = _UNDERSCORES.sub(lambda m: m.group() if _inside_word(m.string, m.start(), m.end()) else "-" * len(m.group()),
                            safe)
    safe = "-" + safe[1:] if safe.startswith("#") else safe  # a heading at a line's start; "C# minor" stays
    if not safe.strip("."):  # " .. " would become "..": a path part that climbs out of its folder
        safe = ""
    if len(safe) > MAX_NAME or len(safe.encode()) > MAX_NAME_BYTES:
        stem, dot, suffix = safe.rpartition(".")
        if not (dot and len(suffix) <= 10):
            stem, suffix = safe, ""
        chars, nbytes = (limit - len(suffix) - bool(suffix) for limit in (MAX_NAME, MAX_NAME_BYTES))
        stem = stem[:chars].encode()[:nbytes].decode(errors="ignore")  # never half a character
        safe = stem + ("." + suffix if suffix else "")
    return safe or "unnamed"


def display_path(path: PurePath) -> str:
    """A path inside a server's folder ("run1/last.safetensors"), each part made safe as display_name makes a name."""
    return "/".join(display_name(part) for part in PurePath(path).parts) or "unnamed"


def folder_checkpoint_label(folder: PurePath, path: PurePath, partner: PurePath | None = None) -> str:
    """How a checkpoint of the server's folder is named in the page: its place in the folder (two runs' files are
    often named alike) and the decoder saved beside it, if one is used."""
    return display_path(PurePath(path).relative_to(folder)) + (f" + {display_name(PurePath(partner).name)}"
                                                               if partner else "")


def _symbol_or_dash(m: "re.Match") -> str:
    """Emoji and other pictographs stay ("🎹 piano.mid"): markdown gives them no meaning, and a name shown with
    each of them as "-" read "-- piano -.mid" in one place and "— piano -.mid" where markdown joins two dashes."""
    c = m.group()
    return c if unicodedata.category(c) == "So" or c in _EMOJI_JOINERS else "-"


_EMOJI_JOINERS = "\u200d\ufe0f"  # the zero-width joiner and the emoji presentation selector inside an emoji


def _inside_word(text: str, start: int, end: int) -> bool:
    return 0 < start and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()


def file_stem(piece_name: str, semis: int = 0, spb: int | None = None, model: str | None = None,
              pedal: bool = False) -> str:
    """The start of a download's name: what it shows, so that two views' files never share a name ("piece.mid",
    transposed +3, at 12 steps per beat that are not the model's own, by "Shipped hierarchy":
    "piece_transposed+3_12spb_shipped-hierarchy"; "_pedal" where the sustain pedal lengthened its notes)."""
    # spaces, "#" and the like are kept where a name is shown, not in a file name (a link or a shell breaks on them)
    stem = _FILE_UNSAFE.sub("-", PurePath(display_name(piece_name)).stem.replace("#", "sharp")).strip(".-") or "piece"
    stem += f"_transposed{int(semis):+d}" if semis else ""
    stem += f"_{int(spb)}spb" if spb else ""
    stem += "_pedal" if pedal else ""
    if model:
        stem += "_" + (_cut_at_word(re.sub(r"[^\w]+", "-", display_name(model).lower()).strip("-"), MODEL_CHARS)
                       or "model")
    return stem


_FILE_UNSAFE = re.compile(r"[^\w.+\-]+")
MODEL_CHARS = 40  # of a model's label in a file name


def _cut_at_word(text: str, limit: int) -> str:
    """`text` ("my_long_run-safetensors") cut to at most `limit` characters before a "-" or "_" (mid-word only where
    one word is longer than the limit)."""
    if len(text) <= limit:
        return text
    cut = re.match(r"(.*)[-_]", text[:limit + 1])
    return cut.group(1).rstrip("-_") if cut and cut.group(1).rstrip("-_") else text[:limit]

