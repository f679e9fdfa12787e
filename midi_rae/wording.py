"""How numbers read in the sentences the app and the CLI print: a count with its noun, "a" or "an" before one;
and names made safe to print."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .pianoroll import PianoRoll


def counted(n: int, noun: str, plural: str = "") -> str:
    """"1 file", "2 files", "1,000 pieces": a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def semitones(n: int) -> str:
    """A signed interval as the pages write it: "+1 semitone", "−4 semitones" (a minus sign, not a hyphen)."""
    return f"{int(n):+d}".replace("-", "−") + (" semitone" if abs(int(n)) == 1 else " semitones")


def fixed(v: float, places: int = 3) -> str:
    """A number to `places` decimals, "0.000" (not "-0.000") for what rounds to nothing: a drop of -0.0004 is no
    gain."""
    text = f"{v:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def column_decimals(values, most: int = 3, scores: bool = False) -> int:
    """The decimals a table column's floats share: as many as its most precise value needs, at most `most` (2.00
    beside 8.82; 100, 50, 23 stay whole). With `scores`, a column of values from 0 to 1 that are all 0 or 1 (an empty
    window's F1s) keeps `most`, so as to read as the scores they are."""
    import math

    floats = [float(v) for v in values if isinstance(v, float) and math.isfinite(v)]
    if scores and floats and all(v in (0.0, 1.0) for v in floats):
        return most
    return max((next((d for d in range(most) if abs(v * 10 ** d - round(v * 10 ** d)) < 1e-9), most)
                for v in floats), default=0)


def signed(v: float, places: int = 3) -> str:
    """A change as the pages write it: "+0.012", "−0.003" (a minus sign, not a hyphen), and "0.000" for what rounds
    to nothing (no "−0.000": a drop of −0.0004 is no gain)."""
    text = f"{v:+.{places}f}"
    return f"{0:.{places}f}" if float(text) == 0 else text.replace("-", "−")


def level_name(k: int, grids) -> str:
    """A level as every level picker names it: "3 (8×8)", its number and its patch grid (rows × columns)."""
    return f"{k} ({grids[k][0]}×{grids[k][1]})" if 0 <= k < len(grids) else str(k)


# control characters, and the bidirectional overrides and isolates that make a name read in another order than
# its characters run (a name "abc\u202efdp.mid" reads "abcdim.pdf")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text safe to print on a terminal or write as UTF-8: the bytes of a file name that are not UTF-8 (lone
    surrogates, as Python reads them), control characters (a terminal's escapes: colours, its title) and
    bidirectional overrides written as escapes, \\xff, \\x1b and \\u202e."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte made
        raw = text.encode("utf-8", "backslashreplace")
    return _CONTROL.sub(_escape, raw.decode("utf-8", "backslashreplace"))


def _escape(m: "re.Match") -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xff else f"\\u{code:04x}"


def error_line(message: str) -> str:
    """A command's error as it prints it: "error: " and the message on one line, a file name's escapes kept."""
    return "error: " + printable(" ".join(str(message).split()))


def a_number(n: int) -> str:
    """The article before a number read aloud: "an 8", "an 11", "an 18", "an 80", otherwise "a"."""
    s = str(int(n))
    vowel = s.startswith("8") or s in ("11", "18") or (len(s) in (5, 6) and s[:2] in ("11", "18"))
    return f"{'an' if vowel else 'a'} {s}"


def seconds(s: float) -> str:
    """A duration for a header: whole seconds from 10 s on, tenths below ("0.5 s", "8.0 s", "20 s")."""
    return f"{int(s + 0.5)} s" if s >= 9.95 else f"{s:.1f} s"  # 10.5 s is 11 s (format's rounding gave 10)


def timing_text(roll: "PianoRoll") -> str:
    """Bars, metre, length, tempo and grid as the header gives them, saying where the piece's metre or tempo
    changes (bars are counted in the metre of most of the piece) and what a beat is when it is not a quarter note."""
    (num, den), k = roll.time_signature, roll.metre_changes
    changes = "once" if k == 1 else f"{k} times"
    from midi_rae.pianoroll import beat_name, beat_quarters, ignored_metres_text

    pickup = roll.pickup_steps and k == 1 and roll.opening_time_signature  # the one change: a pickup's end
    if pickup and roll.opening_implied:  # no metre written for it: a length in beats, not "a bar of 4/4"
        beats = roll.pickup_steps / max(roll.steps_per_beat, 1)
        said = (f" (it opens with {beats:g} beat{'' if beats == 1 else 's'} before the "
                "file's first time signature, drawn at the end of bar 1: where the score counts that pickup as bar "
                "0, bar n here is its bar n − 1)")
    elif pickup:
        on, od = roll.opening_time_signature
        said = (f" (it opens with a bar of {on}/{od}, drawn at the end of bar 1: where the score counts that pickup "
                "as bar 0, bar n here is its bar n − 1)")
    elif roll.opening_implied and k == 1 and roll.opening_time_signature:  # unwritten bars, then the main metre
        said = (f" (the file writes no time signature before its {num}/{den}: the bars before it are read as MIDI's "
                f"4/4 and drawn in {num}/{den}'s bar lines, which fall on the score's from there on; bar numbers "
                "may differ from the score's)")
    else:
        said = (f" (counted and drawn in the metre of most of the piece throughout; it changes {changes}, so bar "
                "lines after a change may not be the score's)" if k else "")
    bars = f"{roll.bars:.1f} bars of {num}/{den}" + ignored_metres_text(roll) + said

    beat = beat_name(roll.time_signature)
    # the opening tempo, in the opening metre's beats (Weber's Concertino opens in 3/4 and is counted in 2/2); a
    # pickup's tempo is the piece's, in its beats
    opening = (None if pickup else roll.opening_time_signature) or roll.time_signature
    start = " at the start" if roll.tempo_changes or opening != roll.time_signature else ""
    # MIDI's tempo counts quarter notes; the grid's beat may be another note value (6/8: a dotted quarter)
    tempo = (f"{roll.tempo_bpm:.0f} BPM{start}" if beat_name(opening) == "quarter note" else
             f"{roll.tempo_bpm / beat_quarters(opening):.0f} beats a minute{start} "
             f"(quarter note = {roll.tempo_bpm:.0f})")
    grid = f"{counted(roll.steps_per_beat, 'step')} per beat" + (
        f" (a beat is {'an' if beat[0] in 'ae' else 'a'} {beat})" if beat != "quarter note" else "")
    first = roll.opening_time_signature or roll.time_signature
    if beat_quarters(first) != beat_quarters(roll.time_signature):  # beat-synchronous: a beat is a beat
        (on, od) = first
        grid += (f", every beat alike: the opening {on}/{od}'s beats ({beat_name(first)}s) are drawn as long as "
                 f"{num}/{den}'s ({beat}s), and played at their own length")
    later = [m for m in roll.metres if m != first and beat_quarters(m) != beat_quarters(roll.time_signature)]
    if later:  # a 7/8 passage in a 4/4 piece: its eighth-note beats take a quarter's steps
        names = " and ".join(f"{n}/{d}'s ({beat_name((n, d))}s)" for n, d in later)
        grid += (f"{'; ' if ', every beat alike' in grid else ', every beat alike: '}the beats of {names} later in "
                 f"the piece are drawn as long as {num}/{den}'s, and played at their own length")
    return f"{bars} · {seconds(roll.duration_s)} · {tempo} · {grid}"


def stored_threshold(meta: Optional[dict]) -> str:
    """A checkpoint's own binarization threshold in words: the one stored in it, or the default where it stores
    none (an original-format file), as "0.60, the threshold stored in it"."""
    stored = (meta or {}).get("threshold")
    return (f"{float(stored):.2f}, the threshold stored in it" if isinstance(stored, (int, float))
            and not isinstance(stored, bool) else "0.50, the default (it stores no threshold)")
