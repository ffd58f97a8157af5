"""A causal LM's section: per trial, time to first token by prompt length, time per output token, tokens/s,
$/1M output and input tokens, perplexity, top-1 agreement and greedy match (the terminal's figures)."""

from __future__ import annotations

from lepton.navigate.result import OptimizeResult
from lepton.report.html.common import esc, listed


def generation_section(result: OptimizeResult) -> str:
    """The table, or nothing for a model that does not generate."""
    trials = [t for t in listed(result) if t.generation is not None]
    if not trials:
        return ""
    lengths = [p.prompt_tokens for p in trials[0].generation.ttft] if trials[0].generation else []
    heads = ["id", "variant", "engine", *(f"TTFT@{n} ms" for n in lengths), "ms/token", "decode tok/s"]
    heads += [
        "end-to-end tok/s",
        "streams tok/s",
        "streams p95 ms/token",
        "$ / 1M out",
        "$ / 1M in",
        "perplexity",
        "top-1",
        "greedy",
    ]
    rows = []
    for t in trials:
        g, q = t.generation, t.quality
        assert g is not None
        cells = [t.id, t.variant, t.engine_label]
        cells += [f"{lat.mean:.1f}" if (lat := g.ttft_at(n)) is not None else "&ndash;" for n in lengths]
        cells += [f"{g.tpot_ms.mean:.1f}", f"{g.decode_tokens_per_s:.1f}", f"{g.e2e_tokens_per_s:.1f}"]
        cells.append(f"{g.streams_tokens_per_s:.1f} ({g.streams})" if g.streams_tokens_per_s else "&ndash;")
        cells.append(f"{g.streams_tpot_ms.p95:.1f}" if g.streams_tpot_ms is not None else "&ndash;")
        cells += [f"{g.usd_per_1m_output:.4g}", f"{g.usd_per_1m_input:.4g}"]
        cells += [str(q.perplexity), str(q.top1_agreement), str(q.greedy_match)]
        flag = " class='disturbed'" if g.disturbed is not None else ""
        rows.append(f"<tr{flag}>" + "".join(f"<td>{c if c == '&ndash;' else esc(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    return (
        "<section><h2>Generation</h2><p>Greedy decoding; time per output token after the first; cost from serving "
        "capacity (output: the best of one stream and the streams together) and prefill (input) tokens/s; quality "
        "against the reference model.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )
