"""Scoring the candidates of an EXTERNAL-objective search by training them:
the Ask/Tell worker loop (asktell), a small real trainer on digits
(trainer), and the same on a Ray cluster (ray_train).
"""

from . import asktell, ray_train, trainer

__all__ = ["asktell", "ray_train", "trainer"]
