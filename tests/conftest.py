"""Test-wide settings. The machines are shared and noisy: Hypothesis checks properties, not
speed, so no per-example deadline (speed is measured in bench/, never asserted here)."""

from hypothesis import settings

settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")

# the store's databases (SQLite and a real PostgreSQL cluster), for every folder that stores
from tests.store_fixtures import postgres, store_url  # noqa: E402,F401
