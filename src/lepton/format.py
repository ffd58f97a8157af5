"""Number formatting shared by the terminal, the reasons the navigator writes, and reports."""

from __future__ import annotations


def ms(x: float) -> str:
    """Latency with about three significant digits: 0.0123, 1.23, 12.3, 123."""
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def usd(x: float) -> str:
    """Dollars: cents precision from one cent up, two significant digits below."""
    return f"${x:.3f}" if x >= 0.01 else f"${x:.2g}"


ENGINE_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "torch": "PyTorch"}


def engine_name(engine: str) -> str:
    """The name a person knows an engine by: ``onnxruntime`` -> ONNX Runtime (unknown names unchanged)."""
    return ENGINE_NAMES.get(engine, engine)


def per_s(x: float) -> str:
    """Items per second: whole numbers with thousands separators, three significant digits below 100."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def plain_number(x: float, decimals: int = 6) -> str:
    """``x`` without an exponent or trailing zeros: 95.0 -> ``95``, 99.9 -> ``99.9``, 1e6 -> ``1000000``."""
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".") or "0"
