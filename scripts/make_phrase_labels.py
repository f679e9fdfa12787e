"""Write the phrase probe's labelled set: Bach chorales, phrase ends from their fermatas (needs music21).

    python scripts/make_phrase_labels.py [--training 25] [--out assets]

For each chosen chorale of the music21 corpus this writes the MIDI exactly as the training corpus was written
(`score.write("midi")`, as `midi_rae.corpus.export_work` does) to OUT/phrases/NAME.mid, and records in
OUT/phrase_labels.json where its phrases end on the beat grid of `midi_rae.pianoroll.midi_to_roll` of that MIDI:

- a phrase end is the end of a fermata chord: the notes carrying an `expressions.Fermata` at one onset, ending
  where the longest of them ends (the next phrase starts there, or after a rest);
- positions are roll steps (4 per beat) and roll-grid bars (step / steps per bar, 0 = the first step of the
  file, so a pickup bar shifts them against the score's measure numbers, which are kept too);
- the last fermata, which ends the piece, is kept but marked `final` (the probe leaves it out: the end of a
  piece is no boundary between two frames).

music21 plays repeats when it writes MIDI, so the labels are read from the score with its repeats written out
(`Score.expandRepeats`): a fermata inside a repeated section ends a phrase each time it is played.

Every fermata note is checked against the roll: its pitch must start (or, when tied over, sound) at the
computed onset step and sound in the step before the computed end. A chorale with a note that fails, or with
fewer than two fermata chords, is left out and listed.

Chosen chorales: every chorale the shipped checkpoint kept for validation (`meta["data"]["val_names"]`, so
never trained on), and `--training` chorales it trained on, spread evenly over the sorted list.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from midi_rae.phrases import roll_key  # noqa: E402
from midi_rae.pianoroll import midi_to_roll  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS_PER_BEAT = 4


def _step(seconds: float, step_times: np.ndarray) -> float:
    """Fractional roll step of a time, on the roll's own step grid (extended linearly past its end)."""
    t = np.append(step_times, step_times[-1] + (step_times[-1] - step_times[-2]))
    if seconds > t[-1]:
        return float(len(t) - 1 + (seconds - t[-1]) / (t[-1] - t[-2]))
    return float(np.interp(seconds, t, np.arange(len(t))))


def _fermata_chords(score) -> list[dict]:
    """Fermata notes grouped by onset: onset and end in quarter notes from the start, and the notes."""
    from music21 import expressions

    groups: dict[float, dict] = {}
    for n in score.recurse().notes:
        if not any(isinstance(e, expressions.Fermata) for e in n.expressions):
            continue
        on = float(n.getOffsetInHierarchy(score))
        g = groups.setdefault(round(on, 6), {"onset_q": on, "end_q": on, "notes": [], "measure": n.measureNumber,
                                             "beat": float(n.beat)})
        g["end_q"] = max(g["end_q"], on + float(n.quarterLength))
        tied_over = n.tie is not None and n.tie.type in ("stop", "continue")
        g["notes"].extend((int(p.midi), tied_over) for p in n.pitches)
    return [groups[k] for k in sorted(groups)]


def _expanded(score):
    """The score with its repeats written out, as music21's MIDI writer plays it."""
    try:
        return score.expandRepeats()
    except Exception:  # noqa: BLE001 - no repeats, or repeats music21 cannot expand: the score as written
        return score


def label_chorale(path: Path, out_dir: Path) -> tuple[dict | None, str]:
    """Write one chorale's MIDI and return (its labels, '') or (None, why it was left out)."""
    import pretty_midi
    from music21 import converter

    score = converter.parse(str(path))
    midi = out_dir / f"{path.stem}.mid"
    score.write("midi", fp=str(midi))
    # music21 plays repeats when it writes MIDI, so the labels come from the score with its repeats written out
    chords = _fermata_chords(_expanded(score))
    if len(chords) < 2:
        midi.unlink()
        return None, f"{len(chords)} fermata chord(s)"
    pm = pretty_midi.PrettyMIDI(str(midi))
    roll = midi_to_roll(midi, steps_per_beat=STEPS_PER_BEAT)
    ends = []
    for c in chords:
        on_s = pm.tick_to_time(int(round(c["onset_q"] * pm.resolution)))
        end_s = pm.tick_to_time(int(round(c["end_q"] * pm.resolution)))
        on, end = _step(on_s, roll.step_times), _step(end_s, roll.step_times)
        if abs(on - round(on)) > 1e-6 or abs(end - round(end)) > 1e-6:
            midi.unlink()
            return None, f"fermata at quarter {c['onset_q']} falls between steps"
        on, end = int(round(on)), int(round(end))
        for pitch, tied_over in c["notes"]:
            starts = roll.onsets[pitch, on] if on < roll.steps else 0
            sounds = roll.array[pitch, on] if on < roll.steps else 0
            if not (sounds and (starts or tied_over)) or not roll.array[pitch, :end].any() or \
                    not roll.array[pitch, max(end - 1, 0)]:
                midi.unlink()
                return None, f"fermata note {pitch} at step {on} is not where the roll has it"
        ends.append({"step": end, "bar": end / roll.steps_per_bar, "onset_step": on, "measure": c["measure"],
                     "beat": c["beat"], "final": False})
    ends[-1]["final"] = ends[-1]["step"] >= roll.steps - roll.steps_per_beat
    rel = path.relative_to(path.parents[1]).as_posix()  # bach/bwv253.mxl
    return {"name": midi.name, "corpus_path": rel, "steps_per_beat": STEPS_PER_BEAT,
            "time_signature": list(roll.time_signature), "steps_per_bar": roll.steps_per_bar, "steps": roll.steps,
            "roll_sha1": roll_key(roll.array), "phrase_ends": ends}, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--training", type=int, default=25, help="chorales the shipped model trained on to add")
    ap.add_argument("--out", default=str(ROOT / "assets"), help="folder for phrase_labels.json and phrases/")
    a = ap.parse_args()
    from music21 import corpus

    from midi_rae.checkpoint import load_model

    val = set(load_model().meta.get("data", {}).get("val_names", []))
    paths = sorted((p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml", ".krn")),
                   key=lambda p: p.stem)
    held = [p for p in paths if f"{p.stem}.mid" in val]
    trained = [p for p in paths if f"{p.stem}.mid" not in val]
    step = max(len(trained) // max(a.training, 1), 1)
    chosen = [(p, "validation") for p in held] + [(p, "training") for p in trained[::step][:a.training]]
    out = Path(a.out)
    midi_dir = out / "phrases"
    midi_dir.mkdir(parents=True, exist_ok=True)
    pieces, skipped = [], {}
    for p, split in chosen:
        labels, why = label_chorale(p, midi_dir)
        if labels is None:
            skipped[p.stem] = why
            continue
        pieces.append({**labels, "shipped_model_split": split})
    doc = {"description": "Phrase ends (ends of fermata chords) of Bach chorales from the music21 corpus, on the "
                          "beat grid of midi_rae.pianoroll.midi_to_roll of the MIDI in assets/phrases/ (written by "
                          "music21's score.write('midi'), as the training corpus was). 'step' is the roll step "
                          "where the phrase ends, 'bar' = step / steps_per_bar (0-based, from the file's first "
                          "step, so a pickup shifts it against the score's 'measure'), 'final' marks the piece's "
                          "last fermata; 'roll_sha1' is midi_rae.phrases.roll_key of the roll. "
                          "'shipped_model_split': whether assets/first.safetensors (the first shipped model, "
                          "the default until 2026-12-04) kept the chorale for validation (never trained on) or "
                          "trained on it.",
           "made_by": "python scripts/make_phrase_labels.py", "music21_version": __import__("music21").__version__,
           "skipped": skipped, "pieces": pieces}
    (out / "phrase_labels.json").write_text(json.dumps(doc, indent=1) + "\n")
    notes = sum(len(p["phrase_ends"]) for p in pieces)
    print(json.dumps({"pieces": len(pieces), "validation": sum(p["shipped_model_split"] == "validation"
                                                                 for p in pieces),
                      "phrase_ends": notes, "skipped": skipped}))


if __name__ == "__main__":
    main()
