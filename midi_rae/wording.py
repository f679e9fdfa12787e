"""How numbers read in the sentences the app and the CLI print: a count with its noun, "a" or "an" before one."""
from __future__ import annotations


def counted(n: int, noun: str, plural: str = "") -> str:
    """"1 file", "2 files", "1,000 pieces": a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def a_number(n: int) -> str:
    """The article before a number read aloud: "an 8", "an 11", "an 18", "an 80", otherwise "a"."""
    s = str(int(n))
    vowel = s.startswith("8") or s in ("11", "18") or (len(s) in (5, 6) and s[:2] in ("11", "18"))
    return f"{'an' if vowel else 'a'} {s}"


def seconds(s: float) -> str:
    """A duration for a header: whole seconds from 10 s on, tenths below ("0.5 s", "8.0 s", "20 s")."""
    return f"{s:.0f} s" if s >= 9.95 else f"{s:.1f} s"
