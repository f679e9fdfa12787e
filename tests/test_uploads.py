"""Uploads to the Corpus page: zips from strangers are read within fixed bounds, each refusal one sentence."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

from midi_rae.dashboard.uploads import (MAX_DIRECTORY_BYTES, MAX_MEMBER_BYTES, MAX_UPLOAD_ENTRIES, MAX_ZIP_ENTRIES,
                                        unpack_uploads, write_uploads, zip_entries)

MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


def _zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _lying_zip(name: bytes, data: bytes, stated_size: int) -> bytes:
    """One deflated member whose headers state `stated_size` bytes however much it holds."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(data) + co.flush()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(comp), stated_size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(comp), stated_size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(comp), 0)
    return local + comp + central + end


def test_a_zip_of_midi_files_unpacks_under_its_folder_and_traversal_stays_inside():
    files, notes = unpack_uploads([("set.zip", _zip({"coll/a.mid": MIDI, "../../x/../evil.mid": MIDI,
                                                     "readme.txt": b"hi"}))])
    assert sorted(files) == ["coll/a.mid", "x/evil.mid"]
    assert notes == ["1 other file in set.zip (it is neither MIDI nor PNG) is left out."]


def test_the_files_of_a_zip_that_are_neither_midi_nor_png_are_counted_in_one_sentence():
    files, notes = unpack_uploads([("album.zip", _zip({"a/one.mid": MIDI, "readme.txt": b"hi", "cover.jpg": b"x",
                                                       "a/inner.zip": _zip({"deep.mid": MIDI}), "notes.pdf": b"%"}))])
    assert sorted(files) == ["a/one.mid"]
    assert notes == ["3 other files in album.zip (they are neither MIDI nor PNG) are left out.",
                     "inner.zip inside album.zip is not opened: a zip within a zip is left out."]


def test_a_member_whose_folder_is_dots_between_spaces_stays_inside(tmp_path):
    from midi_rae.dashboard.uploads import write_uploads

    files, _ = unpack_uploads([("set.zip", _zip({" .. /evil.mid": MIDI, "coll/ . /a.mid": MIDI}))])
    assert sorted(files) == ["unnamed/a.mid", "unnamed/evil.mid"]
    written = write_uploads(files, tmp_path / "files")
    assert written == [tmp_path / "files" / "unnamed" / n for n in ("evil.mid", "a.mid")]
    assert write_uploads({"../out.mid": MIDI}, tmp_path / "files") == [] and not (tmp_path / "out.mid").exists()


def test_files_past_the_limit_are_left_out_from_the_first_one_named():
    from midi_rae.dashboard.uploads import MAX_UPLOAD_FILES

    files, notes = unpack_uploads([("set.zip", _zip({f"c/{k:03d}.mid": MIDI for k in range(MAX_UPLOAD_FILES + 50)}))])
    assert len(files) == MAX_UPLOAD_FILES
    assert notes == [f"Only the first {MAX_UPLOAD_FILES} files are indexed: c/{MAX_UPLOAD_FILES:03d}.mid and the "
                     "files after it were left out."]


def test_a_zip_within_a_zip_is_named_and_left_out():
    inner = _zip({"deep.mid": MIDI})
    files, notes = unpack_uploads([("set.zip", _zip({"a/one.mid": MIDI, "a/inner.zip": inner}))])
    assert sorted(files) == ["a/one.mid"]
    assert notes == ["inner.zip inside set.zip is not opened: a zip within a zip is left out."]


def test_a_member_whose_header_understates_its_size_is_read_no_further_and_left_out():
    data = _lying_zip(b"liar.mid", b"\0" * (3 * MAX_MEMBER_BYTES), stated_size=100)
    files, notes = unpack_uploads([("liar.zip", data)])
    assert files == {}
    assert notes == ["liar.mid in liar.zip is damaged, encrypted or compressed in a way that cannot be read; "
                     "left out."]


def test_a_damaged_member_is_one_sentence_and_the_others_are_kept():
    data = bytearray(_zip({"good.mid": MIDI, "bad.mid": MIDI * 40}))
    start = data.index(b"bad.mid") + len(b"bad.mid")           # the local header's name, then the deflated data
    data[start:start + 8] = b"\xff" * 8
    files, notes = unpack_uploads([("mixed.zip", bytes(data))])
    assert list(files) == ["mixed/good.mid"]
    assert notes == ["bad.mid in mixed.zip is damaged, encrypted or compressed in a way that cannot be read; "
                     "left out."]


def test_a_zip_with_more_entries_than_the_limit_is_not_opened():
    data = _zip({f"f/{i}.mid": b"" for i in range(MAX_ZIP_ENTRIES + 1)}, zipfile.ZIP_STORED)
    assert zip_entries(data)[0] == MAX_ZIP_ENTRIES + 1
    assert unpack_uploads([("many.zip", data)]) == (
        {}, [f"many.zip holds more than {MAX_ZIP_ENTRIES:,} entries, so it is not opened (a zip of at most "
             f"{MAX_ZIP_ENTRIES:,} is)."])


def test_bytes_that_are_not_a_zip_are_one_sentence():
    assert unpack_uploads([("x.zip", b"PK nothing")]) == ({}, ["x.zip is not a readable zip file."])


def _directory_with_a_lying_count(n: int) -> bytes:
    """A stored zip of n empty .mid entries whose end record says it holds one."""
    data = bytearray(_zip({f"f/{i:06d}.mid": b"" for i in range(n)}, zipfile.ZIP_STORED))
    at = data.rfind(b"PK\x05\x06")
    data[at + 8:at + 12] = struct.pack("<HH", 1, 1)
    return bytes(data)


def test_a_zip_whose_end_record_understates_its_entries_is_not_opened():
    data = _directory_with_a_lying_count(MAX_ZIP_ENTRIES + 1)
    files, notes = unpack_uploads([("liar.zip", data)])
    assert files == {} and notes == [f"liar.zip holds more than {MAX_ZIP_ENTRIES:,} entries, so it is not opened "
                                     f"(a zip of at most {MAX_ZIP_ENTRIES:,} is)."]


ENTRY = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"


def _zip64_directory_lie(n: int) -> bytes:
    """n central-directory entries (no members behind them) stated in a zip64 end record, while the classic end
    record after it states one entry and a 47-byte directory."""
    cd = ENTRY * n
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(cd), 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(cd), 1)
    return cd + z64 + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 47, 0, 0)


def test_a_zip64_record_is_read_for_the_entries_whatever_the_classic_end_record_says():
    """zipfile reads the zip64 record wherever its locator stands: 1,000,000 entries took 5.5 s and 440 MB."""
    data = _zip64_directory_lie(MAX_ZIP_ENTRIES + 1)
    assert zip_entries(data) == (MAX_ZIP_ENTRIES + 1, (MAX_ZIP_ENTRIES + 1) * 47)
    assert unpack_uploads([("z64.zip", data)])[1] == [
        f"z64.zip holds more than {MAX_ZIP_ENTRIES:,} entries, so it is not opened (a zip of at most "
        f"{MAX_ZIP_ENTRIES:,} is)."]


def test_the_zips_of_one_upload_open_no_more_entries_than_its_limit_in_all():
    """200 zips of 9,999 damaged members each were all opened (45 s): the upload has a count of its own."""
    per_zip = MAX_ZIP_ENTRIES - 1
    data = _zip({f"d/{i}.txt": b"" for i in range(per_zip)}, zipfile.ZIP_STORED)
    good = _zip({f"d/{i}.mid": MIDI for i in range(3)})  # 3 entries: 2 are left after two zips of 9,999
    files, notes = unpack_uploads([(f"z{k}.zip", data) for k in range(5)] + [("good.zip", good)])
    assert files == {}  # the good zip, past the limit, is not opened either
    assert notes[0] == (f"The zips of this upload hold more than {MAX_UPLOAD_ENTRIES:,} entries in all; those "
                        f"past it are not opened.")
    assert MAX_UPLOAD_ENTRIES // per_zip == 2 and sum("other files in z" in n for n in notes) == 2


def test_the_end_record_is_found_where_zipfile_finds_it():
    """An offset field reading PK\\5\\6, or a record a full 64 KB comment and one byte from the end, hid the record
    from the count while zipfile read it, and its directory of any size."""
    cd = ENTRY * 1000
    offset_field = cd + struct.pack("<4s4HL", b"PK\x05\x06", 0, 0, 1, 1, len(cd)) + b"PK\x05\x06\0\0"
    far = cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), 0, 65535) + b"c" * 65536
    for data in (offset_field, far):
        assert len(zipfile.ZipFile(io.BytesIO(data)).infolist()) == 1000
        assert zip_entries(data) == (1, len(cd))


def test_the_zips_of_one_upload_parse_no_more_directory_than_its_limit_in_all():
    """A directory of tiny entries under a count that lies is refused only once zipfile has parsed it: 23 such
    zips parsed 2,000,000 entries (7 s)."""
    cd = ENTRY * (MAX_DIRECTORY_BYTES // len(ENTRY))
    liar = cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), 0, 0)
    _, notes = unpack_uploads([(f"z{k}.zip", liar) for k in range(5)])
    assert notes == [f"z{k}.zip holds more than 10,000 entries, so it is not opened (a zip of at most 10,000 is)."
                     for k in range(2)] + [f"The zips of this upload hold more than {MAX_UPLOAD_ENTRIES:,} entries in "
                                           f"all; those past it are not opened."]  # two parsed, three not


def test_thousands_of_refusals_are_a_few_sentences_and_a_count():
    data = _zip({f"d/{i}.mid": b"" for i in range(50)}, zipfile.ZIP_STORED)
    data = data.replace(b"PK\x03\x04", b"PK\x03\x05")             # every member's local header is damaged
    files, notes = unpack_uploads([("broken.zip", data)])
    assert files == {} and len(notes) == 8 and notes[-1] == "43 more files were left out (not listed here)."


def test_an_encrypted_zip_is_one_sentence_and_its_reasons_do_not_hide_another_zips():
    locked = bytearray(_zip({f"d/{i}.mid": MIDI for i in range(20)}, zipfile.ZIP_STORED))
    for magic, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encrypted bit everywhere
        at = locked.find(magic)
        while at >= 0:
            locked[at + flag_at] |= 0x1
            at = locked.find(magic, at + 4)
    files, notes = unpack_uploads([("locked.zip", bytes(locked)), ("cut.zip", _zip({"a.mid": MIDI})[:40])])
    assert files == {}
    assert notes == ["locked.zip is encrypted (protected by a password), so its files are left out.",
                     "cut.zip is not a readable zip file."]


def test_a_long_name_in_a_script_of_many_bytes_is_shortened_to_fit_a_file_system(tmp_path):
    name = "曲" * 100 + ".mid"  # 100 characters, 304 bytes of UTF-8: past the 255 a file name may have
    files, notes = unpack_uploads([(name, MIDI)])
    (rel,) = files
    assert notes == [] and rel == "uploaded/" + "曲" * 65 + ".mid" and len(rel.split("/")[1].encode()) == 199
    assert [p.name for p in write_uploads(files, tmp_path)] == ["曲" * 65 + ".mid"]


def test_names_that_would_be_markdown_or_html_are_shown_as_plain_text():
    name = "[Sign in](https:evil.example) ![t](http:127.0.0.1:9) <b>x <i>y $x^2$ :red[z] *w* `v` ~u~ #1 a|b.mid"
    files, _ = unpack_uploads([(name, MIDI), ("set.zip", _zip({"x/a/same.mid": MIDI, "y/a/same.mid": MIDI * 2}))])
    assert sorted(files) == ["a/same (2).mid", "a/same.mid",
                             "uploaded/-Sign in-(https-evil.example) --t-(http-127.0.0.1-9) -b-x -i-y -x-2- -red-z- "
                             "-w- -v- -u- #1 a-b.mid"]


def test_a_quote_the_browser_sent_as_percent_22_is_shown_as_any_other_unsafe_character():
    # Chromium and Firefox send a file's name in form data with " written %22 (and line breaks %0D, %0A)
    from midi_rae.dashboard.names import display_name

    assert display_name('Bach %22Air%22 50% slower.mid') == "Bach -Air- 50- slower.mid"
    assert display_name("two%0Alines.mid") == "two-lines.mid"


def test_underscores_at_a_words_edge_and_a_leading_hash_are_not_markdown_but_names_keep_the_rest():
    from midi_rae.dashboard.names import display_name

    assert display_name("_intro_ take 2.mid") == "-intro- take 2.mid"  # was shown as *intro* take 2.mid
    assert display_name("__init__.mid") == "--init--.mid"              # was a bold "init.mid"
    assert display_name("bwv_250 a__b.mid") == "bwv_250 a__b.mid"     # inside a word: no emphasis, kept
    assert display_name("C# minor.mid") == "C# minor.mid" and display_name("#1.mid") == "-1.mid"


def test_a_long_name_is_cut_to_the_limit_with_its_suffix_kept():
    from midi_rae.dashboard.names import MAX_NAME, display_name

    cut = display_name("a" * 500 + ".mid")
    assert len(cut) == MAX_NAME and cut.endswith("a.mid")
    assert display_name("dir\\sub/<>.mid") == "--.mid" and display_name("") == "unnamed"


def test_a_name_keeps_its_emoji_but_not_a_direction_override():
    from midi_rae.dashboard.names import display_name

    assert display_name("🎹🎶 piano 🎼.mid") == "🎹🎶 piano 🎼.mid"  # pictographs mean nothing to markdown: kept
    assert display_name("a\u202eb.mid") == "a-b.mid"  # a right-to-left override would reorder the name shown


def test_only_the_newest_upload_builds_are_kept_on_disk(tmp_path):
    import os

    from midi_rae.dashboard.uploads import prune_builds

    for i in range(6):
        (tmp_path / f"b{i}" / "files").mkdir(parents=True)
        os.utime(tmp_path / f"b{i}", (1000 + i, 1000 + i))
    gone = prune_builds(tmp_path, keep=4)
    assert sorted(p.name for p in gone) == ["b0", "b1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b2", "b3", "b4", "b5"]


def test_the_names_in_a_refusal_are_display_names_so_no_markdown_or_html_survives():
    evil = "![t](http://127.0.0.1:9/b.png) [Sign in](http://evil.example) <b>x</b> :red[r].mid"
    _, notes = unpack_uploads([("[z](http://evil.example) <i>.zip", _lying_zip(evil.encode(), MIDI * 10,
                                                                                stated_size=1))])
    _, not_zip = unpack_uploads([("[z](http://evil.example) <i>.zip", b"PK nothing")])
    # a display name is the part after the last slash, markdown's and HTML's characters made "-"
    assert notes == ["b- -red-r-.mid in evil.example) -i-.zip is damaged, encrypted or compressed in a way that "
                     "cannot be read; left out."]
    assert not_zip == ["evil.example) -i-.zip is not a readable zip file."]


def _raw_zip(members: list[tuple[bytes, int, bytes, int, int]]) -> bytes:
    """A zip of (name, method, compressed data, crc, stated size) members, written by hand."""
    body, central = b"", b""
    for name, method, comp, crc, size in members:
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 46, 46, 0, method, 0, 0, crc, len(comp), size,
                               len(name), 0, 0, 0, 0, 0, len(body)) + name
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 46, 0, method, 0, 0, crc, len(comp), size, len(name), 0)
        body += name + comp
    return body + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                        len(body), 0)


def test_a_bzip2_member_is_left_out_unread_however_little_it_states():
    import bz2

    bomb = bz2.compress(b"\0" * (64 * 2 ** 20))  # a few KB that would inflate to 64 MB (4 GB as easily)
    files, notes = unpack_uploads([("bomb.zip", _raw_zip([(b"bomb.mid", zipfile.ZIP_BZIP2, bomb, 0, 100)]))])
    assert files == {} and notes == ["bomb.mid in bomb.zip is compressed with a method other than deflate; left out "
                                     "(zip it again with the usual settings)."]


def test_damaged_members_count_toward_what_one_upload_may_inflate():
    from midi_rae.dashboard.uploads import MAX_INFLATED_BYTES

    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    eight = co.compress(b"\0" * MAX_MEMBER_BYTES) + co.flush()  # inflates to 8 MB, then fails its CRC
    n = MAX_INFLATED_BYTES // MAX_MEMBER_BYTES + 5
    zipped = _raw_zip([(f"d/m{i}.mid".encode(), zipfile.ZIP_DEFLATED, eight, 1, MAX_MEMBER_BYTES) for i in range(n)])
    files, notes = unpack_uploads([("many.zip", zipped)])
    assert files == {} and notes[0] == ("many.zip holds more data than one upload may unpack "
                                        f"({MAX_INFLATED_BYTES // 2 ** 20} MB); the rest is left out.")
    assert all("is damaged" in s or "more files were left out" in s for s in notes[1:])


class _Dropped:
    """An uploader's file as Streamlit gives it: an id per drop, a name, a size and the bytes."""

    def __init__(self, file_id: str, name: str, data: bytes):
        self.file_id, self.name, self.size, self._data = file_id, name, len(data), data

    def getvalue(self) -> bytes:
        return self._data


def test_the_same_uploads_are_unpacked_once_across_reruns_and_again_when_they_change(monkeypatch):
    from midi_rae.dashboard import uploads

    calls = []
    real = uploads.unpack_uploads
    monkeypatch.setattr(uploads, "unpack_uploads", lambda files: calls.append(len(files)) or real(files))
    state: dict = {}
    first = [_Dropped("f1", "set.zip", _zip({"coll/a.mid": MIDI, "coll/b.mid": MIDI}))]
    a = uploads.unpack_once(first, state, "k")
    b = uploads.unpack_once(first, state, "k")
    assert calls == [1] and a == b and sorted(a[0]) == ["coll/a.mid", "coll/b.mid"] and len(a[2]) == 16
    c = uploads.unpack_once(first + [_Dropped("f2", "c.mid", MIDI)], state, "k")
    assert calls == [1, 2] and sorted(c[0]) == ["coll/a.mid", "coll/b.mid", "uploaded/c.mid"] and c[2] != a[2]


class _Huge(_Dropped):
    """An upload whose bytes must not be copied out."""

    def __init__(self, file_id: str, name: str, size: int):
        super().__init__(file_id, name, b"")
        self.size = size

    def getvalue(self) -> bytes:
        raise AssertionError(f"{self.name} was read")


def test_uploads_past_what_one_upload_may_read_are_not_copied_out_and_the_first_is_named():
    from midi_rae.dashboard import uploads

    ups = [_Dropped("f1", "a.mid", MIDI), _Huge("f2", "big.mid", uploads.MAX_READ_BYTES), _Huge("f3", "c.mid", 10)]
    files, notes, _ = uploads.unpack_once(ups, {}, "k")
    assert list(files) == ["uploaded/a.mid"]
    assert notes == [f"The uploaded files pass {uploads.MAX_READ_BYTES // 2 ** 20} MB: big.mid and the 1 file after "
                     f"it were not read."]


def test_a_zip_member_one_byte_over_the_midi_limit_is_left_out_naming_the_limit_the_page_states():
    from midi_rae.pianoroll import MAX_MIDI_BYTES

    files, notes = unpack_uploads([("big.zip", _zip({"ok.mid": b"\0" * MAX_MIDI_BYTES,
                                                     "over.mid": b"\0" * (MAX_MIDI_BYTES + 1)}))])
    assert [k.rsplit("/", 1)[-1] for k in files] == ["ok.mid"]  # exactly the limit is kept
    assert notes == ["over.mid in big.zip is over 8 MB unpacked; left out."]
