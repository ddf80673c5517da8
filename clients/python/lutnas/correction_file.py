"""lutnas.correction_file moved to lutnas.measure.correction_file;
the old name goes in the next release (lutnas/_moved.py:
the old name is the new module, every attribute included)."""

from ._moved import forward

forward(__name__, "lutnas.measure.correction_file")
