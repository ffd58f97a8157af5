from __future__ import annotations

import json
from pathlib import Path

import pytest
from machines import fake_hardware

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.cost.model import estimate_cost
from lepton.errors import UserError
from lepton.hardware import Hardware, detect_hardware


def hw(**kw: object) -> Hardware:
    return fake_hardware(**kw)  # type: ignore[arg-type]


PRICE = PricePoint("test", 0.36, "test", "given")


def test_cost_per_million_is_hourly_price_over_hourly_throughput() -> None:
    # 100 inferences/s = 360,000 per hour; $0.36 per hour -> $1.00 per 1M
    est = estimate_cost(100.0, PRICE)
    assert est.usd_per_1m == pytest.approx(1.0)
    assert est.replicas is None and est.usd_per_month is None


def test_replicas_and_month_at_target_qps_keep_headroom() -> None:
    # 500 qps over 100/s at 80% utilisation = 6.25 -> 7 replicas; 7 * 0.36 * 730 h = $1839.60
    est = estimate_cost(100.0, PRICE, qps=500)
    assert est.replicas == 7
    assert est.usd_per_month == pytest.approx(7 * 0.36 * 730)


def test_exact_fit_does_not_round_up_an_extra_replica() -> None:
    # 160 qps at 100/s * 0.8 = exactly 2 replicas
    assert estimate_cost(100.0, PRICE, qps=160).replicas == 2
    assert estimate_cost(100.0, PRICE, qps=1, max_utilization=1.0).replicas == 1


def test_bad_qps_and_utilization_are_user_errors() -> None:
    with pytest.raises(UserError, match="--qps"):
        estimate_cost(100.0, PRICE, qps=0)
    with pytest.raises(UserError, match="utilization"):
        estimate_cost(100.0, PRICE, max_utilization=1.5)


def test_price_override_wins_over_instance_and_match() -> None:
    cat = PriceCatalog.load()
    p = cat.price(hw(), instance="aws/c7a.large", price_per_hour=0.5)
    assert p.usd_per_hour == 0.5 and p.matched == "--price-per-hour"
    assert cat.price(hw(), instance="c7a.large").instance == "aws/c7a.large"
    with pytest.raises(UserError, match="not in the price catalog"):
        cat.price(hw(), instance="nope.small")
    with pytest.raises(UserError, match="positive"):
        cat.price(hw(), price_per_hour=-1)


def test_match_prefers_same_generation_then_vendor_then_gpu() -> None:
    cat = PriceCatalog.load()
    spr = frozenset({"avx512_vnni", "avx512_bf16", "avx512_fp16"})
    assert cat.match(hw(flags=spr)).name == "aws/c7i.large"
    assert cat.match(hw(vendor="amd", flags=frozenset({"avx512_vnni", "avx512_bf16"}))).name == "aws/c7a.large"
    assert cat.match(hw(logical_cores=4, flags=spr)).vcpus == 4
    assert cat.match(hw(gpus=("NVIDIA T4",))).gpu


def test_every_catalog_entry_says_where_its_price_came_from() -> None:
    for e in PriceCatalog.load().entries:
        assert e.usd_per_hour > 0 and e.source and e.as_of != "undated"


def test_user_catalog_file(tmp_path: Path) -> None:
    f = tmp_path / "prices.json"
    f.write_text(
        json.dumps(
            {
                "instances": [
                    {
                        "name": "mine",
                        "vcpus": 64,
                        "vendor": "intel",
                        "arch": "x86_64",
                        "gpu": None,
                        "usd_per_hour": 1.0,
                        "source": "me",
                        "as_of": "now",
                    }
                ]
            }
        )
    )
    assert PriceCatalog.load(f).price(hw()).instance == "mine"
    f.write_text("not json")
    with pytest.raises(UserError, match="cannot read"):
        PriceCatalog.load(f)
    f.write_text(json.dumps({"instances": [{"name": "mine", "vcpus": 2, "usd_per_hour": -1.0, "source": "me"}]}))
    with pytest.raises(UserError, match="instance 0 has a bad 'usd_per_hour'"):
        PriceCatalog.load(f)


def test_the_catalogs_hours_per_month_prices_the_month(tmp_path: Path) -> None:
    """$/month is replicas x $/hour x the catalog's hours a month, whichever way the price was chosen."""
    entry = {"name": "mine", "vcpus": 64, "vendor": "intel", "usd_per_hour": 1.0, "source": "me", "as_of": "now"}
    f = tmp_path / "prices.json"
    months = {}
    for hours in (730, 720):
        f.write_text(json.dumps({"hours_per_month": hours, "instances": [entry]}))
        cat = PriceCatalog.load(f)
        for point in (cat.price(hw()), cat.price(hw(), instance="mine"), cat.price(hw(), price_per_hour=1.0)):
            assert point.hours_per_month == hours
            months[hours] = estimate_cost(100.0, point, qps=100.0).usd_per_month
    assert months == {730: 2 * 730.0, 720: 2 * 720.0}  # 100 qps at 80% of 100/s: 2 replicas
    assert PriceCatalog.load().hours_per_month == 730


def test_detect_hardware_reads_this_machine() -> None:
    h = detect_hardware()
    assert h.logical_cores >= 1 and h.memory_gb > 0 and h.cpu_model
    assert "cpu" in h.capabilities()
    assert set(h.to_json()) >= {"cpu_model", "flags", "logical_cores", "memory_gb", "gpus", "int8_accel"}


def test_capabilities_follow_flags() -> None:
    assert "int8" in hw(flags=frozenset({"avx512_vnni"})).capabilities()
    assert "int8" not in hw(flags=frozenset({"avx2"})).capabilities()
    assert {"fp16", "bf16"} <= hw(gpus=("H100",)).capabilities()
