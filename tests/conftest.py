"""Test-wide settings: no display needed (Qt's offscreen platform), deterministic seeds."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Sessions that train long enough would build a compiled step in a child process beside the tests (minutes of CPU
# on a 2-core machine): off here; tests/training/test_compiled.py switches it on where it is the subject.
os.environ.setdefault("FLOWLAB_COMPILE", "0")

import pytest
import torch

# Small flows are dominated by per-op overhead; extra intra-op threads only add contention (on a loaded 2-core
# machine, badly so). Benchmarks set their own thread count.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

