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


import pytest  # noqa: E402


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request, tmp_path):
    """The default configuration served on free ports of 127.0.0.1, under
    asyncio and under uvloop; stores in tmp_path. Extra configuration:
    ``@pytest.mark.server_config({...})``."""
    from serverkit import RunningServer, server_config
    marker = request.node.get_closest_marker("server_config")
    running = RunningServer(server_config(str(tmp_path / "store"), **(marker.args[0] if marker else {})),
                            request.param)
    yield running
    running.stop()
