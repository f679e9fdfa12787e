"""The dashboard's script, run once per browser session (app/main.py and `midi-rae app` serve it)."""
from midi_rae.dashboard import warmup

warmup.wait("overview")  # the server may be importing these very modules as the first session starts
from midi_rae.dashboard.app import main  # noqa: E402  (the Piece and Corpus pages)

main()
