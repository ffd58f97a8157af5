"""The verdict box: what to deploy and why, and the gains over the baseline exactly as the terminal quotes them.

The gains come only from ``OptimizeResult.gains`` (computed once, by the navigator): the lines are
``report.summary.gain_text``, the table shows every ratio of the same ``Gain`` with its 95% interval at the same
precision. Quality is always the trial's ``Quality.headline()``. Nothing here computes a gain or picks a trial.
"""

from __future__ import annotations

from collections.abc import Callable

from lepton.format import ms, per_s, usd
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import Gain, OptimizeResult, Ratio
from lepton.navigate.targets import Targets
from lepton.report.html.common import counts, esc, listed, megabytes, setting_text, stat
from lepton.report.summary import disturbed_lines, gain_text

# Each ratio of a Gain: its column heading, and the figure of a trial it is the ratio of (shown as was -> now).
_RATIOS: tuple[tuple[str, str, Callable[[JudgedTrial], str]], ...] = (
    ("throughput_x", "throughput, loaded", lambda t: f"{per_s(t.capacity)}/s"),
    ("single_stream_throughput_x", "throughput, single-stream", lambda t: f"{per_s(t.throughput)}/s"),
    ("p50_x", "p50 (times lower)", lambda t: f"{ms(t.latency.p50)} ms"),
    ("cost_x", "$ per 1M (times cheaper)", lambda t: usd(t.usd_per_1m)),
)


def verdict_section(result: OptimizeResult) -> str:
    """The recommendation, the advice to keep the current deployment, or the closest miss."""
    if result.verdict == "no-fit" or result.recommended is None:
        return _no_fit(result)
    rec = next((t for t in result.trials if t.id == result.recommended), None)
    if rec is None:
        return (
            f"<section class='miss' id='verdict'><h2>Recommended {esc(result.recommended)}</h2>"
            f"<p>{esc(result.reason)}</p>"
            "<p class='muted'>The recommended trial is not among the recorded trials.</p></section>"
        )
    targets: Targets = result.targets
    if result.verdict == "keep":
        tag, title = "Keep", "Keep your current deployment"
        what = f"<code>{esc(rec.id)}</code> {esc(rec.variant)} · {esc(setting_text(rec))}"
    else:
        tag, title = "Recommended", f"<code>{esc(rec.id)}</code> {esc(rec.variant)}"
        what = esc(setting_text(rec))
    lines = "".join(f"<li>{esc(gain_text(g))}</li>" for g in result.gains)
    gains = f"<ul class='gain-lines'>{lines}</ul>{gains_table(result)}" if lines else _no_gains(result)
    gains += "".join(f"<p class='why disturbed'>{esc(line)}</p>" for line in disturbed_lines(result))
    return f"""
<section class="rec {esc(result.verdict)}" id="verdict" data-verdict="{esc(result.verdict)}">
  <div class="rec-title"><span class="tag">{tag}</span>
    <h2>{title}</h2>
    <span class="muted">{what}</span></div>
  <p class="reason">{esc(result.reason)}</p>
  <div class="stats">{_stats(rec, targets.slo_metric)}</div>
  {gains}
</section>"""


def _no_gains(result: OptimizeResult) -> str:
    if result.verdict == "keep":
        return ""  # the baseline itself is the advice: there is nothing to compare it with
    return "<p class='muted'>No gain is quoted: the baseline was not measured at a batch size this variant ran at.</p>"


def _no_fit(result: OptimizeResult) -> str:
    miss = result.closest_miss
    tally = esc(counts(listed(result)))
    if miss is None:
        return (
            "<section class='miss none' id='verdict' data-verdict='no-fit'><h2>No recommendation</h2>"
            f"<p>Nothing met the targets.</p><p class='muted'>{tally}</p></section>"
        )
    return (  # the text names what relaxing the targets would recommend, as the terminal says it
        "<section class='miss' id='verdict' data-verdict='no-fit'><h2>No recommendation: closest miss</h2>"
        f"<p>{esc(miss.text)}</p><p class='muted'>{tally}</p></section>"
    )


def _stats(t: JudgedTrial, metric: str) -> str:
    """The chosen trial's own figures: latency, throughput, cost, quality, size."""
    lat = t.latency
    ci = lat.ci95.get(metric)
    conc = t.concurrent
    cost = t.priced
    h = t.quality.headline()
    month = (
        stat(
            "per month",
            esc(f"${cost.usd_per_month:,.0f}"),
            esc(f"at {cost.qps:g} QPS, {cost.replicas} replica(s)") if cost.qps is not None else "",
        )
        if cost.usd_per_month is not None
        else stat("per month", "&ndash;", "give --qps to price a month")
    )
    return "".join(
        [
            stat(
                f"{metric} at batch {t.batch_size}",
                esc(f"{ms(lat.value(metric))} ms"),
                esc(f"95% CI {ms(ci[0])}–{ms(ci[1])} ms") if ci else "",
            ),
            stat(
                "throughput",
                esc(f"{per_s(t.throughput)}/s"),
                esc(f"{per_s(conc.throughput_per_s)}/s with {conc.callers} callers") if conc else "",
            ),
            stat("per 1M inferences", esc(usd(t.usd_per_1m))),
            month,
            stat(
                h.label if h else "quality",
                esc(h.formatted) if h else "&ndash;",
                esc(f"drop {t.quality_drop:.4f}") if t.quality_drop is not None else "",
            ),
            stat(
                "model size",
                esc(megabytes(t.model_mb) + " MB") if t.model_mb is not None else "&ndash;",
                esc(f"peak RSS {t.peak_rss_mb:.0f} MB") if t.peak_rss_mb is not None else "",
            ),
        ]
    )


def _direction(r: Ratio) -> str:
    """up: a gain beyond the noise; down: a loss beyond it; flat: the interval straddles 1x."""
    return "up" if r.beyond_noise else "down" if r.high < 1.0 else "flat"


def _cell(g: Gain, name: str, figure: Callable[[JudgedTrial], str], result: OptimizeResult) -> str:
    r = g.ratio(name)
    was = figure(result.trial(g.baseline_trial))
    now = figure(result.trial(g.trial))
    return (
        f"<td data-ratio='{name}' data-x='{r.x:.2f}' data-low='{r.low:.2f}' data-high='{r.high:.2f}'>"
        f"<b class='{_direction(r)}'>{r.x:.2f}×</b> <small>95% CI {r.low:.2f}–{r.high:.2f}</small>"
        f"<br><small>{esc(was)} → {esc(now)}</small></td>"
    )


def gains_table(result: OptimizeResult) -> str:
    """One row per ``Gain``: each ratio with its interval, and the two trials' figures it compares."""
    rows = []
    for g in result.gains:
        threads = f" · {g.threads} thread{'s' if g.threads != 1 else ''}" if g.threads is not None else ""
        head = (
            f"<th>batch {g.batch_size}<br><small><code>{esc(g.trial)}</code> vs baseline "
            f"<code>{esc(g.baseline_trial)}</code>{esc(threads)}</small></th>"
        )
        cells = "".join(_cell(g, name, figure, result) for name, _, figure in _RATIOS)
        rows.append(f"<tr data-batch='{g.batch_size}'>{head}{cells}</tr>")
    heads = "".join(f"<th>{esc(label)}</th>" for _, label, _ in _RATIOS)
    return (
        f"<table class='gains'><thead><tr><th>vs baseline</th>{heads}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
