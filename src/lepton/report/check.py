"""``lepton check`` in words: the one-screen summary and the JUnit XML a CI server reads (one test case per figure
judged; a regression is a failure, a disturbed figure an error, a figure not comparable here a skip)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from lepton.navigate.check import CheckResult, Item

_UNITS = {"ms": "ms", "usd": "$/1M"}


def item_label(i: Item) -> str:
    what = "quality" if i.name == "quality" else i.name.replace("usd_per_1m", "$/1M")
    return f"{what} ({i.against})"


def item_text(i: Item) -> str:
    """One line per figure: both values, the ratio with its interval, the limit, the outcome."""
    if i.outcome == "skipped" and i.deployed is None:
        return f"{item_label(i)}: skipped, {i.note}"
    if i.name == "quality":
        who = {"recorded": "recorded", "source": "source model"}.get(i.against, "deployed")
        now = {"recorded": "now", "source": "deployed"}.get(i.against, "candidate")
        return (
            f"{item_label(i)}: {i.unit} {who} {i.deployed:.4f}, {now} {i.candidate:.4f}, drop {i.drop:.4f} "
            f"(limit {i.limit:g}): {i.outcome}"
        )
    unit = _UNITS.get(i.unit, i.unit)
    who, now = ("recorded", "now") if i.against == "recorded" else ("deployed", "candidate")
    r = i.ratio
    ratio = f"{r.value:.3f}x [95% CI {r.low:.3f}-{r.high:.3f}]" if r else "-"
    note = f"; {i.note}" if i.note else ""
    return (
        f"{item_label(i)}: {who} {_num(i.deployed)} {unit}, {now} {_num(i.candidate)} {unit}, {ratio} "
        f"(regression: above {1 + i.limit:.2f}x with the interval above 1): {i.outcome}{note}"
    )


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.4g}"


def summary_lines(r: CheckResult) -> list[str]:
    """The terminal summary (fits one screen)."""
    lines = [
        f"check {r.model}: run {r.run_id}, deployed {r.deployed_artifact[:12]} on {r.engine}, batch {r.batch_size}",
        f"candidate: {r.candidate_source}"
        + (f" ({r.candidate_artifact[:12]})" if r.candidate_artifact != r.deployed_artifact else ""),
        f"measured on {r.hardware}; data: {r.workload}; quality against {r.reference}",
    ]
    if r.paired is not None:
        pr = r.paired
        kept = "every pair kept and flagged" if pr.disturbed else f"clean, {pr.dropped} disturbed ones dropped"
        lines.append(f"paired: {pr.pairs} pairs of alternating blocks ({kept})")
    lines += [("  " + item_text(i)) for i in r.items]
    if r.sessions > 1:
        lines.append(
            f"a recorded regression measured in {r.sessions} fresh sessions; the one with the lowest p50 judged"
        )
    if r.disturbed is not None:
        again = f" after {r.attempts} measurements" if r.attempts > 1 else ""
        judged = "; judged anyway (--if-disturbed judge): NOT A FACT" if r.judged_disturbed else ""
        lines.append(f"{r.disturbed.text}{again}{judged}; re-run on a quiet machine")
    regressed = [item_label(i) for i in r.items if i.outcome == "regressed"]
    verdict = {
        "pass": "PASS: no figure regressed beyond its interval",
        "regressed": f"REGRESSED: {', '.join(regressed)}",
        "disturbed": "DISTURBED: other processes used the CPU; no verdict on the timed figures",
    }[r.verdict]
    lines.append(f"{verdict} (exit {r.exit_code})")
    return lines


def junit_xml(r: CheckResult, seconds: float = 0.0) -> str:
    """JUnit XML: one ``testsuite`` named ``lepton check MODEL``, one ``testcase`` per figure."""
    suite = ET.Element(
        "testsuite",
        name=f"lepton check {r.model}",
        tests=str(len(r.items)),
        failures=str(sum(i.outcome == "regressed" for i in r.items)),
        errors=str(sum(i.outcome == "disturbed" for i in r.items)),
        skipped=str(sum(i.outcome == "skipped" for i in r.items)),
        time=f"{seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for k, v in (("run", r.run_id), ("hardware", r.hardware), ("candidate", r.candidate_source)):
        ET.SubElement(props, "property", name=k, value=v)
    for i in r.items:
        case = ET.SubElement(suite, "testcase", classname=f"lepton.check.{r.model}", name=item_label(i))
        text = item_text(i)
        if i.outcome == "regressed":
            ET.SubElement(case, "failure", message=text, type="regression").text = text
        elif i.outcome == "disturbed":
            ET.SubElement(case, "error", message=text, type="disturbed").text = text
        elif i.outcome == "skipped":
            ET.SubElement(case, "skipped", message=i.note or "not measured")
        ET.SubElement(case, "system-out").text = text
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
