"""The training augmentations (midi_rae.augment) on hand-made tiny rolls with exact expected output, and their use in
WindowDataset: deterministic by seed, off by default without changing a plain batch's draws."""
from __future__ import annotations

import numpy as np
import pytest

from midi_rae import augment
from midi_rae.train_data import Augment, WindowDataset


def roll(*rows: str) -> np.ndarray:
    """One window (1, len(rows), W) from strings of '#' (on) and '.' (off), row 0 first."""
    return np.array([[[c == "#" for c in r] for r in rows]], dtype=np.uint8)


def text(x: np.ndarray) -> list[str]:
    return ["".join("#" if v else "." for v in row) for row in x[0]]


def test_run_position_counts_steps_since_each_runs_onset():
    x = roll("###.##.#", "........")
    assert augment.run_position(x)[0].tolist() == [[0, 1, 2, -1, 0, 1, -1, 0], [-1] * 8]


def test_rearticulate_splits_long_notes_into_repeated_short_ones():
    x = roll("########", ".######.", "#.#.....")
    assert text(augment.rearticulate(x, np.array([2]), np.array([1]))) == ["#.#.#.#.", ".#.#.#..", "#.#....."]
    assert text(augment.rearticulate(x, np.array([3]), np.array([2]))) == ["##.##.##", ".##.##..", "#.#....."]


def test_rearticulate_with_no_period_shortens_every_run_and_keeps_the_dtype():
    x = roll("#####...", "...#####", "##.##.##")
    y = augment.rearticulate(x, np.array([augment.NO_REPEAT]), np.array([1]))
    assert text(y) == ["#.......", "...#....", "#..#..#."]
    assert y.dtype == np.uint8


def test_articulate_changes_only_the_chosen_share_and_is_deterministic_by_seed():
    x = np.repeat(roll("################"), 200, axis=0)
    a = augment.articulate(x, np.random.default_rng(5), 0.5)
    b = augment.articulate(x, np.random.default_rng(5), 0.5)
    assert np.array_equal(a, b)
    changed = (a != x).any(axis=(1, 2))
    assert 0.35 < changed.mean() < 0.65
    assert (a[:, :, 0] == 1).all()                 # every run keeps its onset
    assert (a <= x).all()                          # only removes pixels
    assert augment.articulate(x, np.random.default_rng(5), 0.0) is x


def test_compress_time_halves_durations_and_keeps_notes_that_start_on_odd_steps():
    x2 = roll("########........", ".#..............", "..##..##........", "........#.#.#.#.")
    assert text(augment.compress_time(x2)) == ["####....", "#.......", ".#.#....", "....####"]
    with pytest.raises(ValueError):
        augment.compress_time(roll("###"))


def test_shift_pitch_moves_rows_and_drops_what_falls_off():
    x = roll("#...", ".#..", "..#.")
    assert text(augment.shift_pitch(x, np.array([1]))) == ["....", "#...", ".#.."]
    assert text(augment.shift_pitch(x, np.array([-2]))) == ["..#.", "....", "...."]


def test_octave_double_adds_the_octave_where_there_is_room():
    x = np.zeros((3, 128, 4), dtype=np.uint8)
    x[0, 60, 0] = 1        # room both ways
    x[1, 120, 1] = 1       # no room above: doubled below
    x[2, 5, 2] = 1         # no room below: doubled above
    y = augment.octave_double(x, np.random.default_rng(0), 1.0)
    assert y[0, 60, 0] == 1 and y[0, 48, 0] + y[0, 72, 0] == 1 and y[0].sum() == 2
    assert y[1, 108, 1] == 1 and y[1].sum() == 2
    assert y[2, 17, 2] == 1 and y[2].sum() == 2
    z = np.zeros((1, 128, 4), dtype=np.uint8)
    z[0, 3, 0] = z[0, 125, 0] = 1                  # room neither way: left alone
    assert np.array_equal(augment.octave_double(z, np.random.default_rng(0), 1.0), z)
    assert np.array_equal(augment.octave_double(x, np.random.default_rng(0), 0.0), x)


def test_superpose_ors_in_the_partner_only_where_chosen():
    x = np.concatenate([roll("#...", "...."), roll("#...", "....")])
    y = np.concatenate([roll("....", ".##."), roll("....", ".##.")])
    out = augment.superpose(x, y, np.array([True, False]))
    assert text(out[:1]) == ["#...", ".##."] and text(out[1:]) == ["#...", "...."]


# ---------------------------------------------------------------- in the dataset


def pieces(n: int = 6, steps: int = 400) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        r = np.zeros((128, steps), dtype=np.uint8)
        for t in range(0, steps, 8):
            r[40 + (t // 8 + i) % 40, t:t + 6] = 1                   # six-step notes, a two-step gap
        r[:, rng.integers(0, steps - 128):][:, :5] = 0
        out.append(np.packbits(r, axis=0))
    return out


ALL_ON = Augment(time_compress=0.5, superpose=0.5, octave_double=0.5, articulate=0.5)


def test_augmentations_are_off_by_default_and_leave_plain_batches_as_they_were():
    plain = WindowDataset(pieces(), 16, seed=3).draw(np.random.default_rng(9))
    off = WindowDataset(pieces(), 16, seed=3, aug=Augment()).draw(np.random.default_rng(9))
    assert np.array_equal(plain.numpy(), off.numpy())


def test_an_augmented_batch_is_the_seeds_has_notes_in_every_window_and_differs_from_a_plain_one():
    ds = WindowDataset(pieces(), 64, seed=3, aug=ALL_ON)
    a, b = ds.draw(np.random.default_rng(9)), ds.draw(np.random.default_rng(9))
    assert np.array_equal(a.numpy(), b.numpy()) and tuple(a.shape) == (64, 1, 128, 128)
    assert set(np.unique(a.numpy())) <= {0.0, 1.0}
    assert (a.sum(dim=(1, 2, 3)) > 0).all()
    plain = WindowDataset(pieces(), 64, seed=3).draw(np.random.default_rng(9))
    assert not np.array_equal(a.numpy(), plain.numpy())
    short = lambda x: ((augment.run_position(x) == 0) & (np.roll(augment.run_position(x), -1, axis=2) <= 0)).sum()
    assert short(a[:, 0].numpy().astype(np.uint8)) > short(plain[:, 0].numpy().astype(np.uint8))  # more 1-step notes


def test_superposed_windows_come_from_two_pieces_and_compressed_crops_stay_in_their_piece():
    one = [np.packbits(np.ones((128, 300), dtype=np.uint8) * (np.arange(128)[:, None] == 60), axis=0),
           np.packbits(np.ones((128, 130), dtype=np.uint8) * (np.arange(128)[:, None] == 90), axis=0)]
    ds = WindowDataset(one, 200, max_transpose=0, aug=Augment(superpose=1.0, superpose_transpose=0))
    x = ds.draw(np.random.default_rng(0))[:, 0].numpy()
    both = x[:, 60].any(axis=1) & x[:, 90].any(axis=1)
    assert both.any() and not x[:, [p for p in range(128) if p not in (60, 90)]].any()
    ds = WindowDataset(one, 200, max_transpose=0, aug=Augment(time_compress=1.0))
    x = ds.draw(np.random.default_rng(0))[:, 0].numpy()
    assert not (x[:, 60].any(axis=1) & x[:, 90].any(axis=1)).any()        # never read into the next piece
    short_piece = x[x[:, 90].any(axis=1), 90]
    assert (short_piece.sum(axis=1) < 128).all()                            # its 2W crop ends with the piece
