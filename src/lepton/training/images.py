"""Images: a folder with one sub-folder per class, an ``.npz`` of image arrays, or scikit-learn's digits.

The model takes raw pixel values as float32 ``[batch, channels, height, width]`` (0-255 for image files, 0-16
for digits); per-channel normalisation is fitted on the training split and lives inside the graph.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import UserError, first_line
from lepton.training.dataset import Prepared, check_classes, split_rows, stratified_folds

if TYPE_CHECKING:
    import torch

    from lepton.training.options import TrainOptions

IMAGE = "image"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
DEFAULT_SIZE = 32
MAX_NATIVE = 64  # images of one size up to this are kept as they are; others are resized to --image-size


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = [p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES][:3]
        hint = f" (found loose images: {', '.join(loose)})" if loose else ""
        raise UserError(
            f"{root}: an image folder needs one sub-folder per class (e.g. {root}/cat/1.png, {root}/dog/2.png); "
            f"found no sub-folders{hint}"
        )
    return folders


def read_image_folder(root: Path, image_size: int | None) -> tuple[np.ndarray, list[str], list[str], dict[str, Any]]:
    """(images [n, c, h, w] float32 raw pixels, labels as class names, class names, report)."""
    from PIL import Image, UnidentifiedImageError

    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    for folder in _class_folders(root):
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    files.append((p, folder.name))
                else:
                    skipped.append(str(p.relative_to(root)))
    if not files:
        raise UserError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES[:5])}, ...) in its class sub-folders")
    images = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im.load()
                images.append(im.copy())
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise UserError(
                f"{p}: cannot read it as an image ({first_line(e, 120)}); remove or replace the file and rerun"
            ) from None
    gray = all(im.mode in ("L", "1", "I;16", "I") for im in images)
    sizes = Counter(im.size for im in images)
    native = sizes.most_common(1)[0][0]
    if image_size is None and len(sizes) == 1 and max(native) <= MAX_NATIVE:
        target = native
    else:
        side = image_size or DEFAULT_SIZE
        target = (side, side)
    arrays = []
    for original in images:
        converted = original.convert("L" if gray else "RGB")
        if converted.size != target:
            converted = converted.resize(target, Image.Resampling.BILINEAR)
        a = np.asarray(converted, dtype=np.float32)
        arrays.append(a[None] if gray else a.transpose(2, 0, 1))
    report = {
        "source": str(root),
        "rows_read": len(files),
        "image_shape": list(arrays[0].shape),
        "resized": sum(1 for im in images if im.size != target),
        "sizes_found": len(sizes),
    }
    if skipped:
        report["skipped_not_images"] = skipped[:20]
    classes = sorted({c for _, c in files})
    return np.stack(arrays), [c for _, c in files], classes, report


def prepare_images(
    x: np.ndarray, labels: np.ndarray, classes: list[str], opts: TrainOptions, report: dict[str, Any], where: str
) -> Prepared:
    """Stratified splits of images ``[n, c, h, w]`` (or ``[n, h, w]``) with class codes ``labels``."""
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise UserError(
            f"{where}: images must be [rows, height, width] or [rows, channels, height, width]; got {x.shape}"
        )
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise UserError(f"{where}: the images hold NaN or infinite pixel values; fix or drop those images")
    check_classes(labels, classes, where, folds=opts.folds)
    if opts.duplicates == "drop":
        flat = np.concatenate([x.reshape(len(x), -1), labels[:, None].astype(np.float32)], axis=1)
        _, first = np.unique(flat, axis=0, return_index=True)
        keep = np.sort(first)
        report["duplicates_dropped"] = int(len(x) - len(keep))
        x, labels = x[keep], labels[keep]
        check_classes(labels, classes, where, folds=opts.folds)
    report["missing"] = {}
    report["missing_policy"] = "none missing"
    report["rows_used"] = len(x)
    train, val, test = split_rows({IMAGE: x}, labels, opts.val_fraction, opts.test_fraction, opts.seed)
    prepared = Prepared("classification", "image", train, val, test, classes, report, {"shape": list(x.shape[1:])})
    if opts.folds:
        prepared.folds = stratified_folds(prepared.pool.y, opts.folds, opts.seed)
    return prepared


def digits(opts: TrainOptions) -> Prepared:
    """scikit-learn's bundled 8x8 digits (1,797 images, pixel values 0-16)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    report = {"source": "scikit-learn digits (bundled, 8x8 grayscale, values 0-16)", "rows_read": len(d.target)}
    report["image_shape"] = [1, 8, 8]
    classes = [str(c) for c in range(10)]
    return prepare_images(d.images.astype(np.float32), d.target.astype(np.int64), classes, opts, report, "digits")


def augment(x: torch.Tensor, kinds: tuple[str, ...], noise_scale: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips, shifts of up to 1/8 of the side (zero fill) and Gaussian noise, per image."""
    import torch

    n, _, h, w = x.shape
    if "flip" in kinds:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if "shift" in kinds:
        m = max(1, min(h, w) // 8)
        padded = torch.nn.functional.pad(x, (m, m, m, m))
        dy = torch.randint(0, 2 * m + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * m + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * m)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
        x = x.gather(3, cols)
    if "noise" in kinds:
        x = x + 0.1 * noise_scale * torch.randn(x.shape, generator=gen)
    return x
