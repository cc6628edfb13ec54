"""The target of the environment file by its name: labgrid's own ``target`` fixture gives
the one named ``main``; this environment names its target after the device, ``ip6000``."""

from __future__ import annotations

import pytest

TARGET = "ip6000"


@pytest.fixture(scope="session")
def target(env):
    found = env.get_target(TARGET)
    if found is None:
        pytest.fail(f"the environment {env.config_file} has no target {TARGET!r}")
    return found
