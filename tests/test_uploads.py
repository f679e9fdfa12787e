"""Uploads to the Corpus page: zips from strangers are read within fixed bounds, each refusal one sentence."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

from midi_rae.dashboard.uploads import MAX_MEMBER_BYTES, MAX_ZIP_ENTRIES, unpack_uploads, zip_entries

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
    assert sorted(files) == ["coll/a.mid", "x/evil.mid"] and notes == []


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
    assert zip_entries(data) == MAX_ZIP_ENTRIES + 1
    assert unpack_uploads([("many.zip", data)]) == (
        {}, [f"many.zip holds {MAX_ZIP_ENTRIES + 1:,} entries; a zip of at most {MAX_ZIP_ENTRIES:,} is opened."])


def test_bytes_that_are_not_a_zip_are_one_sentence():
    assert unpack_uploads([("x.zip", b"PK nothing")]) == ({}, ["x.zip is not a readable zip file."])
