"""Shared test setup: a deterministic, bounded hypothesis profile."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fastcore",
    derandomize=True,          # the same examples on every run
    max_examples=300,
    deadline=None,
    database=None,             # write no example database into the repo
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("fastcore")
