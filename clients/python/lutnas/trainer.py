"""lutnas.trainer moved to lutnas.train.trainer;
the old name goes in the next release (lutnas/_moved.py:
the old name is the new module, every attribute included)."""

from ._moved import forward

forward(__name__, "lutnas.train.trainer")
