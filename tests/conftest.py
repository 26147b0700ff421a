import os

import numpy as np
import pytest
from hypothesis import settings

# Property tests: CI runs a fixed, reproducible set of generated cases ("ci", the default); explore new
# ones with HYPOTHESIS_PROFILE=explore (random seeds, more cases), as was done before each release of a change.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import iclbook as ic


@pytest.fixture
def small():
    """The book's small problem: K=12, N=4, d=6, m=3, τ=0.1 (chapters 2, 4–6 and 8 use it)."""
    return ic.make_problem(12, 4, 6, 3, 0.1, seed=0)
