"""The report tests' example run (``example_run.example_result``), fresh for each test."""

from __future__ import annotations

import pytest
from example_run import example_result

from lepton.navigate.result import OptimizeResult


@pytest.fixture
def result() -> OptimizeResult:
    out: OptimizeResult = example_result()
    return out
