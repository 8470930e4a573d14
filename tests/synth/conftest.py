"""Fixtures of the engine's tests: the mixers."""

import pytest
from fixtures_jack import require_native
from synth_rig import MIXINGS


@pytest.fixture(params=MIXINGS)
def mixing(request) -> str:
    """Each mixer in turn: the native one (C audio callback) and the pure-Python one."""
    if request.param == "native":
        require_native()
    return request.param
