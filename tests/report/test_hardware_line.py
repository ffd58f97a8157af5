"""The hardware line says how many CPUs the run had and where that figure came from (a container's quota)."""

from __future__ import annotations

from dataclasses import replace

from lepton.hardware import Hardware
from lepton.navigate.explain import hardware_notes
from lepton.navigate.result import OptimizeResult
from lepton.report.html import render_html


def test_a_quota_limited_run_says_so_in_the_html_and_the_notes(result: OptimizeResult) -> None:
    hw: Hardware = result.hardware
    limited = replace(hw, cpus=2.0, cpu_limit="cgroup", host_cpus=64)

    page = render_html(result.with_(hardware=limited))

    assert "2.0 CPUs: cgroup quota on a 64-CPU host" in page
    assert any("2.0 CPUs: cgroup quota on a 64-CPU host" in n for n in hardware_notes(limited))
    assert "cgroup quota" in limited.summary()  # bench's title line
    assert "cgroup quota" not in render_html(result)  # a record without the figure claims nothing
