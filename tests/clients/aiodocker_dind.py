"""A pytest plugin for aiodocker's own suite: its swarm tests' manager is the daemon under test.

aiodocker's ``dind_docker_host`` fixture starts a ``docker:dind`` container from Docker Hub with
``docker compose`` and points its swarm tests at that inner dockerd. Here the manager is the Portside
daemon the whole suite already talks to (``DOCKER_HOST``): the fixture's value is that address, and
its ``swarm`` fixture then runs ``swarm init``/``leave --force`` against it as it would against dind.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    if fixturedef.argname != "dind_docker_host":
        return None
    value = os.environ["DOCKER_HOST"]
    fixturedef.cached_result = (value, fixturedef.cache_key(request), None)
    return value
