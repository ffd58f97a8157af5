"""The self-contained HTML report: written, offline, escaped, the verdict with the navigator's own figures."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import pytest
from example_run import measured
from trials import trial

from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import ClosestMiss, OptimizeResult
from lepton.navigate.targets import Targets
from lepton.quality import Quality
from lepton.report.html import render_html, write_html
from lepton.report.summary import gain_text
from lepton.slo import Slo


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


def verdict_box(page: str) -> str:
    m = re.search(r"<section[^>]*id=['\"]verdict['\"].*?</section>", page, re.S)
    assert m, "the page has a verdict box"
    return m.group(0)


def row_classes(page: str) -> dict[str, str]:
    """JudgedTrial id -> the class of its row in the table of candidates."""
    return {tid: cls for cls, tid in re.findall(r"<tr class='([\w ]+)' data-id='(\w+)'", page)}


def cell(page: str, tid: str, column: int) -> str:
    """The ``column``-th cell (0-based) of trial ``tid``'s row."""
    row = re.search(rf"<tr class='[\w ]+' data-id='{tid}'.*?</tr>", page, re.S)
    assert row
    return str(re.findall(r"<td.*?</td>", row.group(0), re.S)[column])


def replaced(result: OptimizeResult, tid: str, **changes: Any) -> OptimizeResult:
    return result.with_(trials=tuple(t.with_(**changes) if t.id == tid else t for t in result.trials))


def test_writes_the_file_and_returns_its_path(result: OptimizeResult, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"

    written = write_html(result, target)

    assert written == target
    assert target.stat().st_size > 100_000  # plotly.js is inlined
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary file left behind


def test_page_is_self_contained(result: OptimizeResult) -> None:
    page = render_html(result)

    assert not re.search(r"<script[^>]+src\s*=", page, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"@import|url\(\s*[\"']?https?:", page, re.I)
    assert "Plotly.newPlot" in page


def test_every_current_trial_has_one_row_the_baseline_first(result: OptimizeResult) -> None:
    page = render_html(result)

    assert list(row_classes(page)) == ["b1", "b32"] + [f"t{i}" for i in range(1, 13)]


def test_rows_carry_their_status_and_the_baseline_its_own_mark(result: OptimizeResult) -> None:
    classes = row_classes(render_html(result))

    assert classes["t9"] == "recommended"
    assert classes["t10"] == "frontier"
    assert classes["t6"] == "rejected"
    assert classes["t12"] == "failed"
    assert classes["t1"] == "ok"
    assert classes["b1"] == "ok baseline"
    assert classes["b32"] == "rejected baseline"  # the baseline competes: it misses the SLO at batch 32


def test_the_engine_of_every_trial_is_shown(result: OptimizeResult) -> None:
    ov = measured("t13", "openvino fp32", 32, 45.0, 48.0, engine="openvino")
    result = result.with_(trials=(*result.trials, ov), frontier=(*result.frontier, "t13"))

    page = render_html(result)

    assert "PyTorch" in cell(page, "b1", 2) and "ONNX Runtime" in cell(page, "t9", 2)
    assert "OpenVINO" in cell(page, "t13", 2)
    data, _ = embedded_figure(page)
    shapes = {t["name"]: t["marker"]["symbol"] for t in data if t.get("meta") == "candidates"}
    assert shapes == {
        "ONNX Runtime (batch 1)": "circle",
        "ONNX Runtime (batch 32)": "circle",
        "OpenVINO (batch 32)": "square",
    }


def test_cells_carry_raw_values_to_sort_on(result: OptimizeResult) -> None:
    page = render_html(result)

    p95 = cell(page, "t9", 6)
    assert "data-sort='44.0'" in p95 and "CI 43.1–44.9" in p95
    assert "data-sort='0'" in cell(page, "t9", 15)  # recommended sorts first in the status column
    assert "data-sort='4'" in cell(page, "t12", 15)  # failed last
    heads = re.findall(r"<th data-type='(\w+)' scope='col'>([^<]+)<", page)
    assert ("num", "p95 ms") in heads and ("text", "engine") in heads and ("status", "status") in heads


def test_the_box_quotes_the_navigators_gains_in_the_terminals_words(result: OptimizeResult) -> None:
    box = verdict_box(render_html(result))

    assert "Recommended</span>" in box and "<code>t9</code> int8 dynamic + fusion" in box
    assert [g.batch_size for g in result.gains] == [1, 32]
    for g in result.gains:
        assert f"<li>{escape(gain_text(g))}</li>" in box
    # t9 at batch 32 against b32: mean latency 42 ms against 219 ms; loaded 830/s against 146/s
    assert "vs baseline at batch 32 (2 threads): 5.21x throughput single-stream, 5.68x loaded" in box


def test_every_ratio_is_shown_with_its_interval(result: OptimizeResult) -> None:
    box = verdict_box(render_html(result))

    cells = re.findall(r"<td data-ratio='(\w+)' data-x='([\d.]+)' data-low='([\d.]+)' data-high='([\d.]+)'>", box)
    expected = [
        (name, f"{r.x:.2f}", f"{r.low:.2f}", f"{r.high:.2f}")
        for g in result.gains
        for name in ("throughput_x", "single_stream_throughput_x", "p50_x", "cost_x")
        for r in [g.ratio(name)]
    ]
    assert cells == expected
    g32 = result.gains[1]
    assert f"95% CI {g32.ratio('p50_x').low:.2f}–{g32.ratio('p50_x').high:.2f}" in box
    assert (
        "<code>t9</code> vs baseline <code>b32</code>" in box and "<code>t4</code> vs baseline <code>b1</code>" in box
    )


def test_a_ratio_within_the_noise_is_not_shown_as_a_gain(result: OptimizeResult) -> None:
    g = result.gains[1]
    flat = g.with_(p50_x=1.02, ci95={**g.ci95, "p50_x": (0.97, 1.07)})
    page = render_html(result.with_(gains=(result.gains[0], flat)))

    assert "<b class='flat'>1.02×</b> <small>95% CI 0.97–1.07</small>" in verdict_box(page)


def test_no_gain_is_computed_when_the_navigator_quoted_none(result: OptimizeResult) -> None:
    box = verdict_box(render_html(result.with_(gains=())))

    assert "vs baseline at batch" not in box and "data-ratio" not in box
    assert "No gain is quoted" in box


def test_keep_says_keep_your_current_deployment_with_the_reason(result: OptimizeResult) -> None:
    reason = (
        "keep your current deployment: nothing here is faster by more than the noise; the best candidate, "
        "t4 int8 dynamic + fusion, is 1.02x [0.97-1.07] cheaper per 1M than pytorch eager fp32 at batch 1"
    )
    keep = result.with_(verdict="keep", recommended="b1", reason=reason, gains=(), frontier=("b1", "t4"))

    page = render_html(keep)

    box = verdict_box(page)
    assert "<h2>Keep your current deployment</h2>" in box and 'data-verdict="keep"' in box
    assert escape(reason) in box
    assert "<code>b1</code> pytorch eager fp32 · PyTorch, 2 threads, batch 1" in box
    assert "Recommended</span>" not in box and "No gain is quoted" not in box
    assert row_classes(page)["b1"] == "recommended baseline"
    data, _ = embedded_figure(page)
    chosen = next(t for t in data if t.get("meta") == "recommended" and t.get("visible") is True)
    assert chosen["text"] == ["b1 keep"]


def test_no_fit_shows_the_closest_miss(result: OptimizeResult) -> None:
    text = (
        "p95<=12ms is met by nothing; the fastest is 14.2 ms; with p95<=15ms, quality drop <= 0.01 the "
        "recommendation would be t4: int8 dynamic + fusion, 2 threads, batch 1"
    )
    miss = ClosestMiss.model_validate(
        {"text": text, "relaxed": {"slo": {"metric": "p95", "max_ms": 15.0}}, "would_recommend": "t4"}
    )
    page = render_html(result.with_(verdict="no-fit", recommended=None, reason="", gains=(), closest_miss=miss))

    box = verdict_box(page)
    assert "No recommendation: closest miss" in box and escape(text) in box
    assert "Recommended</span>" not in page


def test_quality_is_the_headline_figure(result: OptimizeResult) -> None:
    # rmse before cosine (the one rule): a forecast judged by its error, with a fidelity figure recorded too
    q = Quality(kind="task", rmse=1.2345, mae=0.9, cosine=0.99)
    page = render_html(replaced(result, "t9", quality=q))

    assert "<span>rmse</span><b>1.234</b>" in verdict_box(page)
    assert "1.234<br><small>rmse, drop" in cell(page, "t9", 12)
    assert "0.9950<br><small>fidelity, drop 0.0050" in cell(page, "t10", 12)


def test_escapes_user_strings(result: OptimizeResult) -> None:
    evil = "<script>alert(1)</script>"
    result = replaced(result, "t1", variant=evil)
    result = replaced(result, "t12", error=f"PassError: {evil}")
    result = result.with_(model=result.model.with_(name=evil))

    page = render_html(result)

    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_escapes_user_strings_inside_the_figure(result: OptimizeResult) -> None:
    evil = "<b onmouseover=alert(1)>t9</b>"
    trials = tuple(
        t.with_(id=evil, reasons=("<img src=x onerror=alert(1)>",)) if t.id == "t9" else t for t in result.trials
    )
    quoted = tuple(g.with_(trial=evil) if g.trial == "t9" else g for g in result.gains)
    result = result.with_(trials=trials, recommended=evil, frontier=(*result.frontier, evil), gains=quoted)

    data, _ = embedded_figure(render_html(result))

    strings = json.dumps(data)
    assert "<b onmouseover" not in strings and "<img" not in strings
    assert "&lt;b onmouseover=alert(1)&gt;t9&lt;/b&gt; recommended" in strings


def test_figure_has_frontier_recommended_rejected_and_baseline_traces(result: OptimizeResult) -> None:
    data, _ = embedded_figure(render_html(result))

    kinds = {trace.get("meta") for trace in data}
    assert {"frontier", "recommended", "rejected", "baseline", "candidates"} <= kinds
    recommended = [t for t in data if t.get("meta") == "recommended"]
    assert len(recommended) == 1 and recommended[0]["x"] == [44.0]
    frontier32 = next(t for t in data if t.get("meta") == "frontier" and t.get("visible") is True)
    assert frontier32["x"] == [44.0, 47.5]  # t9 then t10, sorted by p95
    baseline32 = next(t for t in data if t.get("meta") == "baseline" and t.get("visible") is True)
    assert baseline32["x"] == [228.0] and "rejected · baseline" in baseline32["hovertext"][0]


def test_one_dropdown_entry_per_batch_size(result: OptimizeResult) -> None:
    _, layout = embedded_figure(render_html(result))

    labels = [b["label"] for b in layout["updatemenus"][0]["buttons"]]
    assert labels == ["batch 1", "batch 32"]
    assert layout["updatemenus"][0]["active"] == 1  # opens on the recommended trial's batch size


def test_rejected_points_carry_their_reasons_in_hover(result: OptimizeResult) -> None:
    data, _ = embedded_figure(render_html(result))

    rejected = [h for t in data if t.get("meta") == "rejected" for h in t["hovertext"]]
    assert any("quality drop 0.0380 &gt; 0.01" in h for h in rejected)


def test_the_latency_axis_is_the_slo_statistic(result: OptimizeResult) -> None:
    result = result.with_(targets=Targets(slo=Slo("p99", 60.0), max_drop=0.01))

    data, layout = embedded_figure(render_html(result))

    assert layout["xaxis"]["title"]["text"] == "p99 latency (ms)"
    recommended = next(t for t in data if t.get("meta") == "recommended")
    assert recommended["x"] == [result.trial("t9").latency.p99]


def test_log_axes_when_values_span_more_than_10x(result: OptimizeResult) -> None:
    slow = trial("t1", p50=300.0, p95=400.0, variant="onnx fp32", threads=1)
    result = result.with_(trials=tuple(slow if t.id == "t1" else t for t in result.trials))

    _, layout = embedded_figure(render_html(result))

    batch1 = layout["updatemenus"][0]["buttons"][0]["args"][1]
    assert batch1["xaxis.type"] == "log"
    assert layout["xaxis"]["type"] == "linear"  # batch 32, shown first, spans under 10x


def test_a_quick_screen_replaced_by_a_precise_measurement_is_not_listed(result: OptimizeResult) -> None:
    screen = measured("t0", "int8 dynamic + fusion", 32, 41.0, 46.0, superseded_by="t9")
    result = result.with_(trials=(screen, *result.trials))

    page = render_html(result)

    assert "t0" not in row_classes(page)
    assert "1 quick screens replaced by precise measurements are in the JSON" in page


def test_a_run_read_back_from_its_json_renders_the_same_page(result: OptimizeResult) -> None:
    assert render_html(OptimizeResult.from_json(result.to_json())) == render_html(result)


def only_failed(r: OptimizeResult) -> OptimizeResult:
    failed = tuple(t for t in r.trials if t.status == "failed")
    return r.with_(trials=failed, frontier=(), recommended=None, verdict="no-fit", reason="", gains=())


def no_frontier(r: OptimizeResult) -> OptimizeResult:
    return r.with_(frontier=(), recommended=None, verdict="no-fit", gains=())


def one_batch_size(r: OptimizeResult) -> OptimizeResult:
    return r.with_(trials=tuple(t for t in r.trials if t.batch_size == 32), gains=r.gains[1:])


def no_quality(r: OptimizeResult) -> OptimizeResult:
    return r.with_(trials=tuple(t.with_(quality=Quality(), quality_drop=None) for t in r.trials))


def task_quality(r: OptimizeResult) -> OptimizeResult:
    def accuracy(t: JudgedTrial) -> JudgedTrial:
        return t.with_(quality=Quality(kind="task", accuracy=0.97 - (t.quality_drop or 0), f1=0.96))

    return r.with_(trials=tuple(accuracy(t) for t in r.trials))


def no_trials(r: OptimizeResult) -> OptimizeResult:
    return r.with_(trials=(), frontier=(), recommended=None, verdict="no-fit", reason="", gains=())


def missing_recommended_trial(r: OptimizeResult) -> OptimizeResult:
    return r.with_(recommended="t99")


def unnamed_model(r: OptimizeResult) -> OptimizeResult:
    return r.with_(model=r.model.with_(name=None, model_mb=None))


@pytest.mark.parametrize(
    "degrade",
    [
        only_failed,
        no_frontier,
        one_batch_size,
        no_quality,
        task_quality,
        no_trials,
        missing_recommended_trial,
        unnamed_model,
    ],
)
def test_thin_runs_still_render(degrade: Callable[[OptimizeResult], OptimizeResult], result: OptimizeResult) -> None:
    result = degrade(result)

    page = render_html(result)

    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert set(row_classes(page)) == {t.id for t in result.trials}


def test_a_run_with_only_failed_trials_has_no_chart_but_a_note(result: OptimizeResult) -> None:
    page = render_html(only_failed(result))

    assert "Plotly.newPlot" not in page
    assert "there is no chart" in page and "1 failed trial not plotted" in page
    assert "PassError: fp16: LayerNormalization" in cell(page, "t12", 15)
    assert "No recommendation" in verdict_box(page)


def test_one_batch_size_has_no_dropdown(result: OptimizeResult) -> None:
    data, layout = embedded_figure(render_html(one_batch_size(result)))

    assert "updatemenus" not in layout or not layout["updatemenus"]
    assert all(t.get("visible", True) is True for t in data)


def test_points_are_coloured_by_the_headline_quality(result: OptimizeResult) -> None:
    data, _ = embedded_figure(render_html(result))
    fidelity = next(t for t in data if t.get("meta") == "candidates")

    errors = result.with_(
        trials=tuple(t.with_(quality=Quality(kind="task", rmse=1.0 + (t.quality_drop or 0))) for t in result.trials)
    )
    data, _ = embedded_figure(render_html(errors))
    rmse = next(t for t in data if t.get("meta") == "candidates")

    assert fidelity["marker"]["colorbar"]["title"]["text"] == "fidelity"
    assert fidelity["marker"]["reversescale"] is False
    assert rmse["marker"]["colorbar"]["title"]["text"] == "rmse"
    assert rmse["marker"]["reversescale"] is True  # lower is better: the better end keeps its colour
