"""What an AppTest run of a page showed, as plain data to compare two runs by (no torch: a torch-less run uses it)."""
from __future__ import annotations

from html_tables import page_tables


def page_summary(at) -> dict:
    """Errors, captions, metrics, tables and the HTML of the mask and reconstruction rows of images."""
    return dict(exceptions=[e.value for e in at.exception], captions=[c.value for c in at.caption],
                metrics=[[m.label, m.value] for m in at.metric], tables=[str(t) for t in page_tables(at)],
                image_rows=[h.proto.body for h in at.get("html") if "midi-rae-image-row" in h.proto.body])
