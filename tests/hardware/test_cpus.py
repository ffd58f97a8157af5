"""The CPUs this process may use, from fixture trees of /proc and /sys/fs/cgroup (cgroup v2 and v1, nested,
none, and a quota above the CPU count), and how the Hardware record, its price and its summary follow them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from machines import fake_hardware

from lepton.cost.catalog import PriceCatalog
from lepton.hardware import Hardware, default_threads, detect_hardware, hardware_here, searched_threads
from lepton.hardware.cpus import CpuBudget, cgroup_quota, cpu_budget

V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate"
V1_CPU_MOUNT = (
    "33 25 0:29 {root} /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10"
    " - cgroup cgroup rw,cpu,cpuacct"
)
V1_MEMORY_MOUNT = "34 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory"
ROOT_MOUNT = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"


def tree(root: Path, cgroup: str, mountinfo: list[str], files: dict[str, str]) -> Path:
    """A fake filesystem: /proc/self/cgroup, /proc/self/mountinfo and cgroup files (paths relative to root)."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/self/mountinfo").write_text("\n".join(mountinfo) + "\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    return root


def test_v2_nested_the_tightest_ancestor_wins(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        "0::/kubepods/burstable/pod1/ctr\n",
        [ROOT_MOUNT, V2_MOUNT],
        {
            "sys/fs/cgroup/kubepods/cpu.max": "max 100000",
            "sys/fs/cgroup/kubepods/burstable/cpu.max": "800000 100000",
            "sys/fs/cgroup/kubepods/burstable/pod1/cpu.max": "200000 100000",  # 2 CPUs: the pod's limit
            "sys/fs/cgroup/kubepods/burstable/pod1/ctr/cpu.max": "max 100000",
        },
    )
    assert cgroup_quota(root) == 2.0
    budget = cpu_budget(root, affinity=64, host=64)
    assert budget == CpuBudget(2.0, "cgroup", 64)
    assert budget.describe() == "2.0 CPUs: cgroup quota on a 64-CPU host"
    assert (budget.threads, budget.vcpus) == (2, 2)


def test_v2_a_fractional_quota_rounds_threads_down_and_vcpus_up(tmp_path: Path) -> None:
    root = tree(tmp_path, "0::/\n", [V2_MOUNT], {"sys/fs/cgroup/cpu.max": "150000 100000"})  # a cgroup namespace
    budget = cpu_budget(root, affinity=32, host=32)
    assert budget.cpus == 1.5 and budget.limit == "cgroup"
    assert budget.threads == 1  # two busy threads would spend the quota early in each period and stall
    assert budget.vcpus == 2  # a machine must have 2 vCPUs to give 1.5
    assert budget.describe() == "1.5 CPUs: cgroup quota on a 32-CPU host"


def test_v2_without_a_limit_is_the_affinity_mask_or_the_host(tmp_path: Path) -> None:
    root = tree(tmp_path, "0::/user.slice\n", [V2_MOUNT], {"sys/fs/cgroup/user.slice/cpu.max": "max 100000"})
    assert cgroup_quota(root) is None
    assert cpu_budget(root, affinity=4, host=16) == CpuBudget(4.0, "affinity", 16)
    assert cpu_budget(root, affinity=4, host=16).describe() == "4 CPUs: affinity mask on a 16-CPU host"
    assert cpu_budget(root, affinity=16, host=16).describe() == "16 CPUs: all of the host"


def test_v1_cpu_controller_in_a_container_and_nested(tmp_path: Path) -> None:
    docker = tree(
        tmp_path / "docker",
        "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
        [ROOT_MOUNT, V1_MEMORY_MOUNT, V1_CPU_MOUNT.format(root="/docker/abc")],  # the container sees its own
        {
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "300000",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824",
        },
    )
    assert cpu_budget(docker, affinity=64, host=64) == CpuBudget(3.0, "cgroup", 64)

    nested = tree(
        tmp_path / "nested",
        "4:cpu,cpuacct:/a/b\n",
        [V1_CPU_MOUNT.format(root="/")],
        {
            "sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us": "-1",  # -1: no quota here
            "sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us": "100000",
            "sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us": "50000",
            "sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us": "100000",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
        },
    )
    half = cpu_budget(nested, affinity=8, host=8)
    assert half.cpus == 0.5 and half.limit == "cgroup" and half.threads == 1 and half.vcpus == 1


def test_no_cgroup_filesystem_is_no_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None  # no /proc here at all
    bare = tree(tmp_path / "bare", "0::/\n", [ROOT_MOUNT], {})  # a cgroup named but not mounted
    assert cpu_budget(bare, affinity=2, host=2) == CpuBudget(2.0, "host", 2)


def test_a_quota_above_the_cpu_count_changes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path, "0::/ctr\n", [V2_MOUNT], {"sys/fs/cgroup/ctr/cpu.max": "800000 100000"})
    assert cgroup_quota(root) == 8.0
    assert cpu_budget(root, affinity=2, host=2) == CpuBudget(2.0, "host", 2)
    assert cpu_budget(root, affinity=4, host=64) == CpuBudget(4.0, "affinity", 64)


def test_this_machine() -> None:
    budget = cpu_budget()
    assert 0 < budget.cpus <= len(os.sched_getaffinity(0)) <= budget.host_cpus
    hw = detect_hardware()
    assert hw.cpus == budget.cpus and hw.cpu_limit == budget.limit and hw.logical_cores == budget.vcpus
    assert 1 <= hw.physical_cores <= budget.threads
    assert hw.cpu_note() == budget.describe()


def test_the_record_follows_the_quota_and_says_where_it_came_from() -> None:
    hw = hardware_here(CpuBudget(2.0, "cgroup", 64))

    assert (hw.logical_cores, hw.cpus, hw.host_cpus) == (2, 2.0, 64)
    assert hw.physical_cores <= 2 and default_threads(hw) == hw.physical_cores
    assert "2.0 CPUs: cgroup quota on a 64-CPU host" in hw.summary()
    assert Hardware.from_json(hw.to_json()).to_json() == hw.to_json()  # the new fields travel
    old = {k: v for k, v in hw.to_json().items() if k not in ("cpus", "cpu_limit", "host_cpus")}
    assert Hardware.from_json(old).cpu_note() == ""  # a record from before: nothing claimed


def test_threads_and_the_priced_instance_follow_the_effective_cpus() -> None:
    limited = fake_hardware(logical_cores=2, physical_cores=1, cpus=1.5, cpu_limit="cgroup", host_cpus=64)
    whole = fake_hardware(logical_cores=64, physical_cores=32, cpus=64.0, cpu_limit="host", host_cpus=64)

    assert searched_threads(limited) == [1] and searched_threads(whole) == [32, 1]
    catalog = PriceCatalog.load()
    price = catalog.price(limited)
    assert catalog.get(price.instance).vcpus < catalog.match(whole).vcpus
    assert "cgroup quota on a 64-CPU host" in price.matched


@pytest.mark.parametrize("text", ["garbage", "max", "0 100000", ""])
def test_unreadable_cpu_max_is_no_quota(tmp_path: Path, text: str) -> None:
    root = tree(tmp_path, "0::/\n", [V2_MOUNT], {"sys/fs/cgroup/cpu.max": text})
    assert cgroup_quota(root) is None
