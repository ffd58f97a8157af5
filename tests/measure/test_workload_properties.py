"""``--data`` files, property-based: whatever a file holds, it loads as rows the model takes, or one line says why.

The model is the tiny MLP (x float32 [batch, 8]). Four cases a generator would rarely reach are tested on their
own at the end: an empty .npz/.npy, a CSV pandas cannot split, data with zero rows, and complex numbers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.workload import Workload, load_workload

SUFFIXES = [".npz", ".npy", ".csv", ".parquet", ".txt", ".json", ""]
PROPERTY = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(art: Artifact, name: str, write: Callable[[Path], object]) -> Workload | UserError:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        write(path)
        try:
            return load_workload(art, path)
        except UserError as e:
            assert str(path) in str(e), str(e)  # the message names the file
            return e


def _check(art: Artifact, result: Workload | UserError) -> None:
    if isinstance(result, UserError):
        message = str(result)
        assert "\n" not in message and "\r" not in message, message
        return
    spec = art.signature.inputs[0]
    x = result.rows["x"]
    assert list(result.rows) == ["x"] and x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 8
    assert result.n_rows >= 1 and len(result.batch(4)["x"]) == 4
    assert spec.name == "x"


@PROPERTY
@given(data=st.binary(min_size=1, max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_any_bytes_load_or_get_one_line(tiny_artifact: Artifact, data: bytes, suffix: str) -> None:
    _check(tiny_artifact, _load(tiny_artifact, "data" + suffix, lambda p: p.write_bytes(data)))


dtypes = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.boolean_dtypes(),
    hnp.unicode_string_dtypes(max_len=3),
    hnp.datetime64_dtypes(),
)
arrays = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=9)))
names = st.sampled_from(["x", "X", "label", "labels", "y", "input", "x "])


@PROPERTY
@given(contents=st.dictionaries(names, arrays, min_size=1, max_size=3))
def test_any_npz_arrays_load_or_get_one_line(tiny_artifact: Artifact, contents: dict[str, np.ndarray]) -> None:
    _check(tiny_artifact, _load(tiny_artifact, "d.npz", lambda p: np.savez(p, **contents)))  # type: ignore[arg-type]


@PROPERTY
@given(array=arrays)
def test_any_npy_array_loads_or_gets_one_line(tiny_artifact: Artifact, array: np.ndarray) -> None:
    _check(tiny_artifact, _load(tiny_artifact, "d.npy", lambda p: np.save(p, array)))


csv_cell = st.one_of(
    st.integers(-(10**6), 10**6).map(str), st.floats(width=32).map(repr), st.text("ab1.e-", max_size=4)
)


@PROPERTY
@given(
    header=st.lists(st.sampled_from(["x", "a", "b", "label", ""]), min_size=1, max_size=9),
    rows=st.lists(st.lists(csv_cell, min_size=9, max_size=9), min_size=0, max_size=5),
)
def test_any_csv_loads_or_gets_one_line(tiny_artifact: Artifact, header: list[str], rows: list[list[str]]) -> None:
    text = "\n".join(",".join(r[: len(header)]) for r in [header, *rows]) + "\n"  # rows as wide as the header
    _check(tiny_artifact, _load(tiny_artifact, "d.csv", lambda p: p.write_text(text)))


def test_zero_rows_are_refused(tiny_artifact: Artifact) -> None:
    result = _load(tiny_artifact, "d.npz", lambda p: np.savez(p, x=np.zeros((0, 8), np.float32)))
    assert isinstance(result, UserError)


def test_complex_numbers_are_refused(tiny_artifact: Artifact) -> None:
    result = _load(tiny_artifact, "d.npz", lambda p: np.savez(p, x=np.ones((2, 8), np.complex64)))
    assert isinstance(result, UserError)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_an_empty_array_file_gets_one_line(tiny_artifact: Artifact, suffix: str) -> None:
    result = _load(tiny_artifact, "d" + suffix, lambda p: p.write_bytes(b""))
    assert isinstance(result, UserError)


def test_a_csv_with_ragged_rows_gets_one_line(tiny_artifact: Artifact) -> None:
    result = _load(tiny_artifact, "d.csv", lambda p: p.write_text("x,a\n1,2\n1,2,3\n"))
    assert isinstance(result, UserError) and "\n" not in str(result)


def test_float64_beyond_float32_is_refused_not_turned_into_inf(tiny_artifact: Artifact) -> None:
    rows = np.ones((2, 8))
    rows[1, 3] = 1e39  # finite in float64, inf in float32
    result = _load(tiny_artifact, "d.npy", lambda p: np.save(p, rows))
    assert isinstance(result, UserError) and "1e+39" in str(result) and "\n" not in str(result)
    fits = _load(tiny_artifact, "d.npy", lambda p: np.save(p, np.full((2, 8), 3e38)))
    assert isinstance(fits, Workload) and np.isfinite(fits.rows["x"]).all()


def test_integers_beyond_the_inputs_type_are_refused_not_wrapped() -> None:
    from lepton.measure.workload import _narrowed

    ok = _narrowed(np.array([[-5, 2**31 - 1]], np.int64), np.dtype(np.int32), "ids", "int32")
    assert ok.dtype == np.int32 and ok.tolist() == [[-5, 2**31 - 1]]
    with pytest.raises(UserError, match=r"from -2147483648 to 2147483647.*to 2147483648"):
        _narrowed(np.array([[0, 2**31]], np.int64), np.dtype(np.int32), "ids", "int32")
