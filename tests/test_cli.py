"""The command line as a user meets it: one clear line and exit 2 for bad input, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_run import cli


def lepton(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lepton", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "Traceback" not in out, out
    assert "error:" in out
    for n in needles:
        assert n in out, out


def test_missing_file(tmp_path: Path) -> None:
    one_line_error(cli("bench", str(tmp_path / "nope.onnx")), "nope.onnx")


def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    f = tmp_path / "notes.onnx"
    f.write_text("hello, not a protobuf")
    one_line_error(cli("bench", str(f)), "notes.onnx")


def test_inputs_that_cannot_be_synthesized_ask_for_a_shape(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["out"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "relu.onnx"))
    one_line_error(cli("bench", str(tmp_path / "relu.onnx")), "--shape image=")
    ok = cli("bench", str(tmp_path / "relu.onnx"), "--shape", "image=1,3,8,8", "--seconds", "0.1")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_an_engine_that_cannot_run_the_model(tiny_onnx: Path) -> None:
    one_line_error(cli("bench", str(tiny_onnx), "--engine", "torch"), "torch", "onnxruntime")
    one_line_error(cli("bench", str(tiny_onnx), "--engine", "tensorrt-llm"), "unknown engine")


def test_bad_flags(tiny_onnx: Path) -> None:
    one_line_error(cli("bench", str(tiny_onnx), "--batch", "1,x"), "--batch")
    one_line_error(cli("bench", str(tiny_onnx), "--shape", "x=1,2,3"), "--shape")
    one_line_error(cli("optimize", str(tiny_onnx), "--slo", "fast please"), "--slo")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    p = lepton("--debug", "bench", str(tmp_path / "nope.onnx"))
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_bench_json_on_an_onnx_file_with_data(tiny_onnx: Path, tmp_path: Path, lepton_home: Path) -> None:
    x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    out = tmp_path / "b.json"
    p = cli(
        "bench",
        str(tiny_onnx),
        "--batch",
        "1,4",
        "--data",
        str(tmp_path / "d.npz"),
        "--qps",
        "1000",
        "--seconds",
        "0.2",
        "--json",
        str(out),
    )
    assert p.returncode == 0, p.stdout + p.stderr
    d = json.loads(out.read_text())
    assert set(d) >= {"model", "hardware", "trials"}
    assert [(t["engine"], t["batch_size"]) for t in d["trials"]] == [  # every engine that can run it
        ("onnxruntime", 1),
        ("onnxruntime", 4),
        ("openvino", 1),
        ("openvino", 4),
    ]
    for t in d["trials"]:
        lat = t["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
        assert t["throughput_per_s"] > 0 and t["peak_rss_mb"] > 0 and t["model_mb"] > 0
        assert t["quality"]["cosine"] == pytest.approx(1.0)
        assert t["cost"]["usd_per_1m"] > 0 and t["cost"]["replicas"] >= 1
    assert "ort" in p.stdout and "$/1M" in p.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["optimize", "--max-dorp", "0.1"], ["No such option: --max-dorp", "--max-drop"]),  # with its "did you mean"
        (["optimze"], ["No such command 'optimze'", "Did you mean 'optimize'"]),
        (["report"], ["Missing argument", "lepton report --help"]),
        (["bench", "--threads", "abc"], ["Invalid value for '--threads'"]),
        (["optimize", "--batch"], ["'--batch' requires an argument"]),
    ],
    ids=["unknown-option", "unknown-command", "missing-argument", "bad-value", "missing-value"],
)
def test_usage_errors_get_one_line_and_exit_2(args: list[str], needles: list[str]) -> None:
    exe = Path(sys.executable).parent / "lepton"  # the installed console script, as a user runs it
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, check=False)
    one_line_error(p, *needles)
    assert len((p.stdout + p.stderr).strip().splitlines()) == 1, p.stdout + p.stderr


def test_bad_shape_slo_and_data_exit_2_with_one_line(tiny_onnx: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "words.npy", np.array([["a"] * 8], dtype="<U1"))

    one_line_error(cli("bench", str(tiny_onnx), "--shape", "x=1,8;x=2,8"), "--shape", "given twice")
    one_line_error(cli("serve", str(tiny_onnx), "--slo", "p99.9<=0.1s@0"), "--slo", "batch size after @")
    one_line_error(cli("bench", str(tiny_onnx), "--data", str(tmp_path / "words.npy")), "words.npy", "dtype")
