"""Test-wide settings. The machines are shared and noisy: Hypothesis checks properties, not
speed, so no per-example deadline (speed is measured in bench/, never asserted here)."""

from hypothesis import settings

settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")
