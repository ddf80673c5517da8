"""lutnas.rknn_check moved to lutnas.measure.rknn_check;
the old name goes in the next release (lutnas/_moved.py:
the old name is the new module, every attribute included)."""

from ._moved import forward

forward(__name__, "lutnas.measure.rknn_check")
