"""`streamlit run app/main.py`: the dashboard, from the midi_rae package (midi_rae/dashboard)."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # a checkout run without installing the package
    sys.path.insert(0, ROOT)

from midi_rae.dashboard.app import main  # noqa: E402  (the Piece and Corpus pages)

main()
