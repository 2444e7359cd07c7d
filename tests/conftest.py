"""Hypothesis profiles, chosen with the ``HYPOTHESIS_PROFILE`` environment variable.

``ci`` (the default) keeps the whole suite within a few minutes on two cores;
``thorough`` is for a long local search after changing a kernel. Deadlines are off
because the pure-Python reference is slow and the timing of shared CI machines varies.
"""
import os

from hypothesis import settings

settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
