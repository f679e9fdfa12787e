"""A zip's end records read as Python's zipfile reads them, so that its size can be bounded before zipfile reads
its whole directory (checkpoints and the Corpus page's uploads)."""
from __future__ import annotations

import struct
from typing import NamedTuple, Optional

_END, _END64, _LOCATOR = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
_END_SIZE, _END64_SIZE, _LOCATOR_SIZE = 22, 56, 20


class ZipEnd(NamedTuple):
    """What a zip's end records state: its directory's entries and bytes, and how many bytes come before the
    archive (zipfile shifts every offset by them; torch's reader does not, so the two would read two archives)."""

    entries: int
    directory_bytes: int
    prefix: int


def zip_end(data: bytes) -> Optional[ZipEnd]:
    """The end records as CPython's zipfile finds them (`_EndRecData`, `_EndRecData64`): a record without a
    comment at the very end first, else the last signature in the last 64 KB + 22 bytes; a zip64 record wherever a
    locator stands just before it. None where zipfile finds none."""
    at = len(data) - _END_SIZE
    if not (at >= 0 and data[at:at + 4] == _END and data[-2:] == b"\x00\x00"):
        start = max(len(data) - (1 << 16) - _END_SIZE, 0)
        at = data.rfind(_END, start)
        if at < 0 or at + _END_SIZE > len(data):
            return None
    entries, size, offset = struct.unpack("<HII", data[at + 10:at + 20])
    prefix = at - size - offset
    loc = at - _LOCATOR_SIZE
    rec = loc - _END64_SIZE
    if rec >= 0 and data[loc:loc + 4] == _LOCATOR and data[rec:rec + 4] == _END64:
        entries, size, offset = struct.unpack("<QQQ", data[rec + 32:rec + 56])
        prefix = at - size - offset - _END64_SIZE - _LOCATOR_SIZE
    return ZipEnd(entries, size, prefix)
