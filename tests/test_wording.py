"""How numbers read in sentences: counts agree with their nouns, "an" before numbers read with a vowel."""
import os

from midi_rae.wording import a_number, counted, printable, seconds, signed


def test_a_count_agrees_with_its_noun():
    assert [counted(n, "window") for n in (0, 1, 2, 1500)] == ["0 windows", "1 window", "2 windows",
                                                               "1,500 windows"]
    assert counted(1, "piece") == "1 piece" and counted(3, "child", "children") == "3 children"


def test_numbers_read_with_a_vowel_take_an():
    assert [a_number(n) for n in (1, 4, 8, 11, 12, 18, 24, 80, 800, 11000)] == [
        "a 1", "a 4", "an 8", "an 11", "a 12", "an 18", "a 24", "an 80", "an 800", "an 11000"]


def test_short_durations_keep_their_tenths():
    assert [seconds(s) for s in (0.5, 8.0, 9.94, 9.96, 20.4)] == ["0.5 s", "8.0 s", "9.9 s", "10 s", "20 s"]
    assert [seconds(s) for s in (10.5, 12.5, 10.49)] == ["11 s", "13 s", "10 s"]  # halves up, as people round


def test_printable_writes_a_names_undecodable_bytes_and_control_characters_as_escapes():
    assert printable(os.fsdecode(b"bad\xff\xfe.mid")) == "bad\\xff\\xfe.mid"
    assert printable("esc\x1b[31m\x07 caf\u00e9.mid") == "esc\\x1b[31m\\x07 caf\u00e9.mid"


def test_a_change_is_written_with_a_minus_sign_and_what_rounds_to_nothing_has_no_sign():
    assert [signed(v) for v in (0.0124, -0.0034, -0.0004, 0.0)] == ["+0.012", "−0.003", "0.000", "0.000"]
