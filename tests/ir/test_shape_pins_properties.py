"""``--shape`` parsing, property-based: any text pins a valid shape or gets one line; valid pins read back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lepton.errors import UserError
from lepton.ir.signature import MAX_DIM, Signature, TensorSpec
from lepton.options import parse_shape_pins

SIG = Signature(
    (
        TensorSpec("input_ids", "int64", ("batch", "sequence")),
        TensorSpec("pixels", "float32", ("batch", 3, "h", "w")),
    ),
    (TensorSpec("y", "float32", ("batch", 2)),),
)
SHAPEISH = "=,;x- 0123456789+_" + "input_ids" + "pixels"
texts = st.one_of(st.text(max_size=40), st.text(alphabet=SHAPEISH, max_size=40))


def _assert_one_line(e: UserError) -> None:
    message = str(e)
    assert message and "\n" not in message and "\r" not in message
    assert message.startswith("--shape") or "has no input" in message


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(texts, max_size=4))
def test_any_shape_text_pins_a_valid_shape_or_gets_one_line(items: list[str]) -> None:
    try:
        sig = SIG.with_pins(parse_shape_pins(items))
    except UserError as e:
        _assert_one_line(e)
        return
    for name, values in sig.pinned.items():
        spec = SIG.input(name)
        assert len(values) == len(spec.shape)
        assert all(0 < v <= MAX_DIM for v in values)
        assert all(v == d for v, d in zip(values, spec.shape, strict=True) if isinstance(d, int))


dims = st.integers(1, MAX_DIM)


@settings(max_examples=200, deadline=None, database=None)
@given(
    ids=st.tuples(dims, dims),
    pixels=st.tuples(dims, dims, dims),
    sep=st.sampled_from([",", "x"]),
    together=st.booleans(),
)
def test_valid_pins_read_back_exactly(
    ids: tuple[int, int], pixels: tuple[int, int, int], sep: str, together: bool
) -> None:
    a = "input_ids=" + sep.join(map(str, ids))
    b = "pixels=" + ",".join(map(str, (pixels[0], 3, pixels[1], pixels[2])))
    items = [f"{a}; {b}"] if together else [a, b]

    pins = parse_shape_pins(items)

    assert pins == {"input_ids": ids, "pixels": (pixels[0], 3, pixels[1], pixels[2])}
    assert SIG.with_pins(pins).pinned == pins


def test_an_input_given_twice_is_refused() -> None:
    try:
        parse_shape_pins(["input_ids=1,8", "input_ids = 1,16"])
    except UserError as e:
        assert "'input_ids' is given twice" in str(e)
    else:
        raise AssertionError("a second --shape for the same input was taken silently")
