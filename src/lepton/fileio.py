"""Files that are never seen half written: the one temp-then-rename rule for every file and folder Lepton
publishes (artifact metadata, the store's artifact folders, reports, JSON results, unpacked shipments).

A reader sees the old content or the new, never a mix: the bytes go to a temporary file in the same folder
(its name ends in ``.tmp``, which the store's content hashing skips) and ``os.replace`` swaps it in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

TMP_SUFFIX = ".tmp"


def write_atomic(path: Path | str, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` (parents created) so that it appears whole or not at all."""
    return write_stream(path, [data.encode(encoding) if isinstance(data, str) else data])


def write_stream(path: Path | str, chunks: Iterable[bytes], *, verify: Callable[[Path], None] | None = None) -> Path:
    """``write_atomic`` for content too large to hold in memory: ``chunks`` are written to the temporary file,
    ``verify`` (which raises to refuse it, e.g. a checksum) sees it whole, and only then is it swapped in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        if verify is not None:
            verify(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def publish_dir(staged: Path, final: Path) -> bool:
    """Move a complete folder ``staged`` to ``final`` in one rename; False (and ``staged`` removed) when another
    writer published ``final`` first. Both must be on one filesystem."""
    try:
        os.rename(staged, final)
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)
        return False
    return True


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MB chunks."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
