"""midi_rae: hierarchical Swin V2 autoencoders for piano-roll images of MIDI, and tools to look inside them."""
__version__ = "0.1.0"


def load_model(path=None, decoder=None, device=None):
    """Load a checkpoint (the shipped default when path is None); see midi_rae.checkpoint.load_model."""
    from .checkpoint import load_model as _load_model
    return _load_model(path, decoder=decoder, device=device)
