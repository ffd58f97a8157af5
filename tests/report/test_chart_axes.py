"""The chart's axes come from the measured points alone: an SLO line, a missing or infinite figure never
stretches them (a run with ``--slo "p95<=50ms@1"`` once drew its batch-32 axis from 1 ms to 1e56 ms)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_html_report import embedded_figure

from lepton.navigate.result import OptimizeResult
from lepton.navigate.targets import Targets
from lepton.report.html import render_html
from lepton.report.html.chart import _axis
from lepton.slo import Slo

MARGIN_DECADES = 0.5  # a log axis may reach this far past the data, no more
MARGIN_SHARE = 0.25  # a linear axis: this share of the data's span past either end


def per_batch(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], dict]]:
    """Batch label -> (its traces, its axes' layout update), from the dropdown's buttons."""
    out = {}
    for button in layout["updatemenus"][0]["buttons"]:
        visible = button["args"][0]["visible"]
        out[button["label"]] = ([t for t, v in zip(data, visible, strict=True) if v], button["args"][1])
    return out


def assert_spans(values: list[float], kind: str, rng: list[float], what: str) -> None:
    lo, hi = min(values), max(values)
    if kind == "log":
        assert rng[0] <= math.log10(lo) and rng[1] >= math.log10(hi), f"{what}: {rng} misses [{lo}, {hi}]"
        assert rng[0] >= math.log10(lo) - MARGIN_DECADES, f"{what}: starts at 1e{rng[0]:.1f}, the data at {lo}"
        assert rng[1] <= math.log10(hi) + MARGIN_DECADES, f"{what}: ends at 1e{rng[1]:.1f}, the data at {hi}"
    else:
        span = max(hi - lo, abs(hi) * 0.1)
        assert rng[0] <= lo and rng[1] >= hi, f"{what}: {rng} misses [{lo}, {hi}]"
        assert rng[0] >= lo - MARGIN_SHARE * span and rng[1] <= hi + MARGIN_SHARE * span, (
            f"{what}: {rng} vs [{lo}, {hi}]"
        )


@pytest.mark.parametrize("slo", [Slo("p95", 50.0, batch_size=1), Slo("p95", 1e6), Slo("p95", 0.001)])
def test_every_axis_spans_the_measured_points_and_no_more(result: OptimizeResult, slo: Slo) -> None:
    result = result.with_(targets=Targets(slo=slo, max_drop=0.01))

    data, layout = embedded_figure(render_html(result))

    batches = per_batch(data, layout)
    assert set(batches) == {"batch 1", "batch 32"}
    for label, (traces, axes) in batches.items():
        points = [t for t in traces if t.get("meta") not in ("slo", "frontier")]
        for axis in ("xaxis", "yaxis"):
            values = [v for t in points for v in t[axis[0]] if v is not None]
            assert values, f"{label}: no points"
            assert_spans(values, axes[f"{axis}.type"], axes[f"{axis}.range"], f"{label} {axis}")
        line = [t for t in traces if t.get("meta") == "slo"]  # drawn in every batch size's view, in data units
        assert len(line) == 1 and line[0]["x"] == [slo.max_ms, slo.max_ms]
    # the view the page opens on has the same axes as its dropdown entry
    shown = layout["updatemenus"][0]["buttons"][layout["updatemenus"][0]["active"]]["args"][1]
    for axis in ("xaxis", "yaxis"):
        assert layout[axis]["type"] == shown[f"{axis}.type"] and layout[axis]["range"] == shown[f"{axis}.range"]
    assert not layout.get("shapes") and not layout.get("annotations")  # nothing autorange would count


def test_a_missing_infinite_or_zero_figure_never_stretches_an_axis() -> None:
    log = _axis([None, math.inf, 1.0, 100.0, math.nan])
    assert log["type"] == "log" and log["range"][0] >= -0.5 and log["range"][1] <= 2.5

    with_zero = _axis([0.0, 1.0, 100.0])  # a zero has no place on a log axis: linear, from the data
    assert with_zero["type"] == "linear" and with_zero["range"][0] < 0.0 < 100.0 < with_zero["range"][1] < 125.0

    positive = _axis([40.0, 50.0])  # positive figures never draw a negative axis
    assert positive == {"type": "linear", "range": [pytest.approx(39.2), pytest.approx(50.8)]}

    one = _axis([5.0])
    assert one["range"][0] < 5.0 < one["range"][1]
    assert _axis([None, math.inf]) == {"type": "linear", "autorange": True}
