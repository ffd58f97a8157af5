"""The sortable table of every candidate (the baseline among them), one row per current trial.

Each cell carries its raw value in ``data-sort``; the template's script sorts on a header click. A row's class is
the status it is shown with (``baseline`` added for the baseline), which colours it.
"""

from __future__ import annotations

from lepton.format import engine_name, ms, per_s, usd
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import OptimizeResult
from lepton.report.html.common import STATUS_ORDER, chain_text, counts, esc, listed, megabytes, shown_status

COLUMNS = (
    ("id", "text"),
    ("variant · chain", "text"),
    ("engine", "text"),
    ("threads", "num"),
    ("batch", "num"),
    ("p50 ms", "num"),
    ("p95 ms", "num"),
    ("p99 ms", "num"),
    ("items/s", "num"),
    ("concurrent", "num"),
    ("model MB", "num"),
    ("peak RSS", "num"),
    ("quality", "num"),
    ("$ / 1M", "num"),
    ("$ / month", "num"),
    ("status", "status"),
)
_DASH = "&ndash;"


def _td(html: str, sort: object = None, cls: str = "num") -> str:
    key = "" if sort is None else f" data-sort='{esc(sort)}'"
    return f"<td class='{cls}'{key}>{html}</td>"


def _status_cell(t: JudgedTrial, status: str, result: OptimizeResult) -> str:
    pills = [f"<span class='pill {status}'>{esc(status)}</span>"]
    if status == "recommended" and t.id in result.frontier:
        pills.append("<span class='pill frontier'>frontier</span>")
    if t.is_baseline:
        pills.append("<span class='pill baseline'>baseline</span>")
    if t.disturbed is not None:
        pills.append("<span class='pill disturbed'>disturbed</span>")
    notes = [f"<li class='why'>{esc(x)}</li>" for x in t.reasons]
    if t.disturbed is not None:
        notes.append(f"<li class='why'>{esc(t.disturbed.text)}</li>")
    notes += [f"<li>{esc(x)}</li>" for x in t.notes]
    if t.error:
        notes.append(f"<li class='why'><code>{esc(t.error)}</code></li>")
    listing = f"<ul>{''.join(notes)}</ul>" if notes else ""
    return _td("".join(pills) + listing, STATUS_ORDER.get(status, 9), "status")


def _figures(t: JudgedTrial) -> list[str]:
    """The measured cells, p50 to $/month; dashes for a trial that failed before it was measured."""
    if not t.measured:
        return [_td(_DASH) for _ in range(10)]
    lat = t.latency
    ci = lat.ci95.get("p95")
    ci_txt = f"<br><small>CI {esc(ms(ci[0]))}–{esc(ms(ci[1]))}</small>" if ci else ""
    conc = t.concurrent
    h = t.quality.headline()
    drop = f", drop {t.quality_drop:.4f}" if t.quality_drop is not None else ""
    month = t.priced.usd_per_month
    return [
        _td(esc(ms(lat.p50)), lat.p50),
        _td(esc(ms(lat.p95)) + ci_txt, lat.p95),
        _td(esc(ms(lat.p99)), lat.p99),
        _td(esc(per_s(t.throughput)), t.throughput),
        _td(f"{esc(per_s(conc.throughput_per_s))}<br><small>{conc.callers} callers</small>", conc.throughput_per_s)
        if conc
        else _td(_DASH),
        _td(esc(megabytes(t.model_mb)), t.model_mb) if t.model_mb is not None else _td(_DASH),
        _td(esc(f"{t.peak_rss_mb:,.0f}"), t.peak_rss_mb) if t.peak_rss_mb is not None else _td(_DASH),
        _td(f"{esc(h.formatted)}<br><small>{esc(h.label + drop)}</small>", h.value) if h else _td(_DASH),
        _td(esc(usd(t.usd_per_1m)), t.usd_per_1m),
        _td(esc(f"${month:,.0f}"), month) if month is not None else _td(_DASH),
    ]


def _engine_text(t: JudgedTrial) -> str:
    """The engine and its options, and on a cluster the kind of node it ran on."""
    engine = esc(f"{engine_name(t.engine)} {t.options_text}".strip())
    return engine + (f"<br><small>on {esc(t.hardware_kind)}</small>" if t.hardware_kind else "")


def row(t: JudgedTrial, result: OptimizeResult) -> str:
    status = shown_status(t, result)
    chain = f"<small class='chain' title='{esc(chain_text(t, params=True))}'>{esc(chain_text(t))}</small>"
    variant = f"{esc(t.variant)}<br>{chain}"
    cells = [
        _td(f"<code>{esc(t.id)}</code>", t.id, "id"),
        _td(variant, t.variant, "variant"),
        _td(_engine_text(t), f"{t.hardware_kind or ''} {t.engine_label}".strip(), "engine"),
        _td(esc(t.threads) if t.threads is not None else _DASH, t.threads),
        _td(esc(t.batch_size), t.batch_size),
        *_figures(t),
        _status_cell(t, status, result),
    ]
    klass = f"{status} baseline" if t.is_baseline else status
    return f"<tr class='{klass}' data-id='{esc(t.id)}' data-engine='{esc(t.engine)}'>{''.join(cells)}</tr>"


def table_section(result: OptimizeResult) -> str:
    trials = listed(result)
    head = "".join(
        f"<th data-type='{kind}' scope='col'>{esc(label)}<span class='arrow'></span></th>" for label, kind in COLUMNS
    )
    body = "".join(row(t, result) for t in trials)
    body = body or f"<tr><td colspan='{len(COLUMNS)}' class='muted'>No trials were recorded.</td></tr>"
    screens = len(result.trials) - len(trials)
    hidden = f" · {screens} quick screens replaced by precise measurements are in the JSON" if screens else ""
    return f"""
<section>
  <h2>All candidates <span class="muted small">{esc(counts(trials) + hidden)} · click a header to sort</span></h2>
  <div class="scroll"><table id="trials" class="trials">
    <thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
</section>"""
