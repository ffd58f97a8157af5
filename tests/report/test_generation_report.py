"""A causal LM's figures in the terminal summary and the HTML report: the same numbers from the same records."""

from __future__ import annotations

import io

from example_run import example_result
from rich.console import Console
from trials import latency, trial

from lepton.measure.generation import GenerationFigures, PromptLatency
from lepton.navigate.result import Gain
from lepton.quality import Quality
from lepton.report.html.page import render_html
from lepton.report.summary import gain_text, generation_lines, print_summary


def _figures(tpot: float, ttft32: float, streams: float | None) -> GenerationFigures:
    return GenerationFigures(
        new_tokens=32,
        ttft=(
            PromptLatency(prompt_tokens=32, ttft_ms=latency(ttft32)),
            PromptLatency(prompt_tokens=128, ttft_ms=latency(ttft32 * 3)),
        ),
        tpot_ms=latency(tpot),
        decode_tokens_per_s=round(1000 / tpot, 3),
        e2e_tokens_per_s=round(1000 / tpot * 0.9, 3),
        prefill_tokens_per_s=1000.0,
        usd_per_1m_output=0.5,
        usd_per_1m_input=0.01,
        streams=4 if streams else 1,
        streams_tokens_per_s=streams,
        streams_tpot_ms=latency(tpot * 1.5) if streams else None,
    )


def test_generation_figures_are_printed_and_rendered_alike() -> None:
    base = trial("t1", role="baseline", engine="torch-lm", variant="base (PyTorch eager)", p50=40.0)
    base = base.with_(generation=_figures(40.0, 106.0, None), quality=Quality(kind="fidelity", perplexity=13.18))
    rec = trial("t2", engine="openvino-genai", variant="openvino nncf int8_asym", p50=20.0)
    rec = rec.with_(
        generation=_figures(20.0, 24.0, 120.0),
        quality=Quality(kind="fidelity", perplexity=13.2, top1_agreement=0.98, greedy_match=0.9),
    )
    gain = Gain(
        batch_size=1,
        trial="t2",
        baseline_trial="t1",
        throughput_x=4.8,
        single_stream_throughput_x=2.0,
        p50_x=2.0,
        cost_x=4.8,
        ttft_x=4.417,
    )
    result = example_result([base, rec], recommended="t2", frontier=("t2",), gains=(gain,), verdict="recommend")

    lines = generation_lines([base, rec])
    assert lines[1].startswith(
        "t2 openvino nncf int8_asym on openvino-genai: TTFT@32 26.4 ms, TTFT@128 79.2 ms"
    )  # means
    assert (
        "120.0 with 4 streams (p95 " in lines[1]
        and "streams" not in lines[0]
        and "perplexity 13.2, top-1 0.98, greedy 0.9" in lines[1]
    )
    assert "4.42x lower time to first token" in gain_text(gain) and "2.00x decode tokens/s in one stream" in gain_text(
        gain
    )
    out = io.StringIO()
    print_summary(Console(file=out, width=300), result)
    assert "TTFT@32 26.4 ms" in out.getvalue()
    page = render_html(result)
    assert "<h2>Generation</h2>" in page and "<td>26.4</td>" in page and "<td>120.0 (4)</td>" in page
    assert "<th>streams p95 ms/token</th>" in page
