"""The self-contained HTML report: written, offline, escaped, and robust to thin or odd runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lepton.report.html import write_html


def embedded_figure(page: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(data, layout) of the figure, from the page's last ``Plotly.newPlot("pareto", data, layout, ...)``."""
    decoder = json.JSONDecoder()
    i = page.rindex("Plotly.newPlot(") + len("Plotly.newPlot(")
    args = []
    for _ in range(3):  # div id, data, layout
        while page[i] in " \n\t,":
            i += 1
        value, i = decoder.raw_decode(page, i)
        args.append(value)
    assert args[0] == "pareto"
    return args[1], args[2]


def render(result: dict[str, Any], tmp_path: Path) -> str:
    return write_html(result, tmp_path / "report.html").read_text(encoding="utf-8")


def test_writes_the_file_and_returns_its_path(result: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"

    written = write_html(result, target)

    assert written == target
    assert target.stat().st_size > 100_000  # plotly.js is inlined


def test_page_is_self_contained(result: dict[str, Any], tmp_path: Path) -> None:
    page = render(result, tmp_path)

    assert not re.search(r"<script[^>]+src\s*=", page, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"@import|url\(\s*[\"']?https?:", page, re.I)
    assert "Plotly.newPlot" in page


def test_shows_the_recommendation_reason_and_every_trial_id(result: dict[str, Any], tmp_path: Path) -> None:
    page = render(result, tmp_path)

    assert "cheapest that meets p95&lt;=50ms" in page
    for t in result["trials"] + result["baseline"]:
        assert f"<code>{t['id']}</code>" in page


def test_shows_gains_over_the_baseline_at_each_batch_size(result: dict[str, Any], tmp_path: Path) -> None:
    page = render(result, tmp_path)

    # t9 at batch 32: 790/s vs 150/s; its sibling t4 at batch 1: 460/s vs 98/s.
    assert "5.3x throughput at batch 32" in page
    assert "4.7x throughput at batch 1" in page
    assert "fidelity 0.993" in page


def test_escapes_user_strings(result: dict[str, Any], tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    result["model"]["name"] = evil
    result["trials"][-1]["error"] = f"PassError: {evil}"
    result["trials"][0]["variant"] = evil

    page = render(result, tmp_path)

    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_escapes_user_strings_inside_the_figure(result: dict[str, Any], tmp_path: Path) -> None:
    evil = "<b onmouseover=alert(1)>t9</b>"
    result["trials"][8]["id"] = evil
    result["trials"][8]["reasons"] = ["<img src=x onerror=alert(1)>"]
    result["recommended"] = evil

    data, _ = embedded_figure(render(result, tmp_path))

    strings = json.dumps(data)
    assert "<b onmouseover" not in strings and "<img" not in strings
    assert "&lt;b onmouseover=alert(1)&gt;t9&lt;/b&gt; recommended" in strings


def test_a_single_reason_string_is_shown(result: dict[str, Any], tmp_path: Path) -> None:
    result["trials"][5]["reasons"] = "quality drop 0.038 > 0.01 (as one string)"

    page = render(result, tmp_path)

    assert "(as one string)" in page


def test_figure_has_frontier_recommended_rejected_and_baseline_traces(result: dict[str, Any], tmp_path: Path) -> None:
    data, layout = embedded_figure(render(result, tmp_path))

    kinds = {trace.get("meta") for trace in data}
    assert {"frontier", "recommended", "rejected", "baseline", "candidates"} <= kinds
    recommended = [t for t in data if t.get("meta") == "recommended"]
    assert len(recommended) == 1 and recommended[0]["x"] == [44.0]
    frontier32 = next(t for t in data if t.get("meta") == "frontier" and t.get("visible") is True)
    assert frontier32["x"] == [44.0, 47.5]  # t9 then t10, sorted by p95


def test_one_dropdown_entry_per_batch_size(result: dict[str, Any], tmp_path: Path) -> None:
    data, layout = embedded_figure(render(result, tmp_path))

    labels = [b["label"] for b in layout["updatemenus"][0]["buttons"]]
    assert labels == ["batch 1", "batch 32"]
    assert layout["updatemenus"][0]["active"] == 1  # opens on the recommended trial's batch size


def test_rejected_points_carry_their_reasons_in_hover(result: dict[str, Any], tmp_path: Path) -> None:
    data, _ = embedded_figure(render(result, tmp_path))

    rejected = [h for t in data if t.get("meta") == "rejected" for h in t["hovertext"]]
    assert any("quality drop 0.038 &gt; 0.01" in h for h in rejected)


def test_log_axes_when_values_span_more_than_10x(result: dict[str, Any], tmp_path: Path) -> None:
    for t in result["trials"]:
        if t["id"] == "t1":
            t["latency_ms"]["p95"] = 400.0

    _, layout = embedded_figure(render(result, tmp_path))

    batch1 = layout["updatemenus"][0]["buttons"][0]["args"][1]
    assert batch1["xaxis.type"] == "log"
    assert layout["xaxis"]["type"] == "linear"  # batch 32, shown first, spans under 10x


def test_closest_miss_box_when_nothing_met_the_targets(result: dict[str, Any], tmp_path: Path) -> None:
    result["recommended"] = None
    result["reason"] = None
    result["closest_miss"] = {"text": "p95<=12ms is met by nothing; the fastest is 14.2 ms"}

    page = render(result, tmp_path)

    assert "closest miss" in page
    assert "the fastest is 14.2 ms" in page
    assert "Recommended</span>" not in page


def only_failed(r: dict[str, Any]) -> None:
    r["trials"] = [t for t in r["trials"] if t["status"] == "failed"]
    r.update(frontier=[], recommended=None, reason=None, baseline=[])


def no_frontier(r: dict[str, Any]) -> None:
    r.update(frontier=None, recommended=None)


def one_batch_size(r: dict[str, Any]) -> None:
    r["trials"] = [t for t in r["trials"] if t["batch_size"] == 32]
    r["baseline"] = [b for b in r["baseline"] if b["batch_size"] == 32]


def no_quality(r: dict[str, Any]) -> None:
    for t in r["trials"] + r["baseline"]:
        t.pop("quality", None)
        t["quality_drop"] = None


def task_quality(r: dict[str, Any]) -> None:
    for t in r["trials"] + r["baseline"]:
        if "quality" in t:
            t["quality"] = {"kind": "task", "accuracy": 0.97 - (t.get("quality_drop") or 0), "f1": 0.96}


def bare(r: dict[str, Any]) -> None:
    r.clear()


def nulls_everywhere(r: dict[str, Any]) -> None:
    for key in ("model", "hardware", "price", "targets", "search", "notes", "created", "baseline"):
        r[key] = None
    for t in r["trials"]:
        t.update(latency_ms=None, cost=None, concurrent=None, chain=None, threads=None)


def missing_recommended_trial(r: dict[str, Any]) -> None:
    r["recommended"] = "t99"


def no_cost(r: dict[str, Any]) -> None:
    for t in r["trials"] + r["baseline"]:
        t.pop("cost", None)


@pytest.mark.parametrize(
    "degrade",
    [
        only_failed,
        no_frontier,
        one_batch_size,
        no_quality,
        task_quality,
        bare,
        nulls_everywhere,
        missing_recommended_trial,
        no_cost,
    ],
)
def test_thin_runs_still_render(degrade: Any, result: dict[str, Any], tmp_path: Path) -> None:
    degrade(result)

    page = render(result, tmp_path)

    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for t in result.get("trials") or []:
        assert f"<code>{t['id']}</code>" in page


def test_one_batch_size_has_no_dropdown(result: dict[str, Any], tmp_path: Path) -> None:
    one_batch_size(result)

    data, layout = embedded_figure(render(result, tmp_path))

    assert "updatemenus" not in layout or not layout["updatemenus"]
    assert all(t.get("visible", True) is True for t in data)


def test_without_prices_there_is_no_chart_but_a_note(result: dict[str, Any], tmp_path: Path) -> None:
    no_cost(result)

    page = render(result, tmp_path)

    assert "Plotly.newPlot" not in page
    assert "there is no chart" in page


def test_table_rows_are_coloured_by_status(result: dict[str, Any], tmp_path: Path) -> None:
    page = render(result, tmp_path)

    statuses = {tid: status for status, tid in re.findall(r"<tr class='(\w+)'><td[^>]*><code>(\w+)</code>", page)}
    assert statuses["t9"] == "recommended"
    assert statuses["t10"] == "frontier"
    assert statuses["t6"] == "rejected"
    assert statuses["t12"] == "failed"
    assert statuses["b1"] == "baseline"
    assert statuses["t1"] == "ok"


def test_baseline_listed_among_the_trials_gets_one_row(result: dict[str, Any], tmp_path: Path) -> None:
    # the navigator lists its baseline records among the trials too (role "baseline")
    base = [{**b, "role": "baseline"} for b in result["baseline"]]
    page = write_html({**result, "trials": base + result["trials"]}, tmp_path / "r.html").read_text()
    for b in base:
        assert page.count(f"<code>{b['id']}</code>") == 1
