"""`lepton train` against simple strong baselines trained on the same split in the same run.

Run: .venv/bin/python benchmarks/bench_train.py            (digits, digits --tune 20, stocks, tickets)
     .venv/bin/python benchmarks/bench_train.py --quick    (fewer tuning trials, to prove the script runs)

Goals (issue 12): digits CNN test accuracy >= 0.98 and not below scikit-learn's SVC; stocks forecast MAE below
the last-value and seasonal-naive forecasts; finetune above TF-IDF + logistic regression and well above the
majority class; --tune 20 on digits at least as good as the defaults, gain reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, write_result  # noqa: E402

import lepton  # noqa: E402


def run(recipe: str, example: str, **options: Any) -> dict[str, Any]:
    print(f"== lepton train {recipe} --example {example} {options or ''}", flush=True)
    r = lepton.train(recipe, example=example, **options).to_json()
    keep = ("name", "recipe", "split", "params", "metrics", "baselines", "versus_baselines", "timing", "tuning", "cv")
    out = {k: r[k] for k in keep}
    for drop in ("per_class", "confusion"):
        out["metrics"].pop(drop, None)
        for b in out["baselines"]:
            b["metrics"].pop(drop, None)
    if out["tuning"]:
        out["tuning"] = {k: v for k, v in out["tuning"].items() if k != "history"}
    out["training"] = {k: v for k, v in r["training"].items() if k != "history"}
    return out


def baseline(d: dict[str, Any], name: str, key: str) -> float:
    return float(next(b["metrics"][key] for b in d["baselines"] if b["name"] == name))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4 tuning trials instead of 20")
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    trials = 4 if args.quick else args.trials
    os.environ.setdefault("LEPTON_HOME", tempfile.mkdtemp(prefix="lepton-bench-train-"))

    digits = run("classify", "digits")
    tuned = run("classify", "digits", tune=trials, name="digits-tuned")
    stocks = run("forecast", "stocks")
    tickets = run("finetune", "tickets")

    acc, svc = digits["metrics"]["accuracy"], baseline(digits, "SVC", "accuracy")
    tu = tuned["tuning"]
    mae = stocks["metrics"]["mae"]
    last, seasonal = baseline(stocks, "last value", "mae"), baseline(stocks, "seasonal naive", "mae")
    ft = tickets["metrics"]["accuracy"]
    tfidf = baseline(tickets, "TF-IDF + logistic regression", "accuracy")
    major = baseline(tickets, "majority class", "accuracy")
    checks = {
        "digits_accuracy": acc,
        "digits_svc": svc,
        "digits_goal_met": acc >= 0.98 and acc >= svc,
        "tune_trials": tu["trials"],
        "tune_val_default": tu["val_default"],
        "tune_val_best": tu["val_best"],
        "tune_val_loss_default": tu["val_loss_default"],
        "tune_val_loss_best": tu["val_loss_best"],
        "tune_test_default": tu["test_default"],
        "tune_test_best": tu["test_best"],
        "tune_goal_met": tu["val_best"] >= tu["val_default"],
        "stocks_mae_vs_last_value": mae / last,
        "stocks_mae_vs_seasonal_naive": mae / seasonal,
        "stocks_goal_met": mae < last and mae < seasonal,
        "tickets_accuracy": ft,
        "tickets_tfidf": tfidf,
        "tickets_majority": major,
        "tickets_goal_met": ft > tfidf and ft > major + 0.25,
    }
    rows = [
        ["digits CNN (classify)", f"test accuracy {acc:.4f}", f"SVC {svc:.4f}", _met(checks["digits_goal_met"]),
         f"{digits['timing']['train_seconds']:.0f} s, {digits['timing']['epochs_run']} epochs"],
        [f"digits --tune {trials}", f"val accuracy {tu['val_default']:.4f} -> {tu['val_best']:.4f}, val loss "
         f"{tu['val_loss_default']:.4f} -> {tu['val_loss_best']:.4f}; test {tu['test_default']:.4f} -> "
         f"{tu['test_best']:.4f}", "the defaults (trial 0)", _met(checks["tune_goal_met"]),
         f"{tu['seconds']:.0f} s, {tu['pruned']} of {tu['trials']} pruned"],
        ["stocks LSTM (forecast)", f"test MAE {mae:.3f} ({mae / last:.3f}x last value, {mae / seasonal:.3f}x seasonal)",
         f"last value {last:.3f}, seasonal naive {seasonal:.3f}", _met(checks["stocks_goal_met"]),
         f"{stocks['timing']['train_seconds']:.0f} s, {stocks['timing']['epochs_run']} epochs"],
        ["tickets MiniLM (finetune)", f"test accuracy {ft:.4f}", f"TF-IDF+LR {tfidf:.4f}, majority {major:.4f}",
         _met(checks["tickets_goal_met"]),
         f"{tickets['timing']['train_seconds']:.0f} s, {tickets['timing']['epoch_seconds']:.1f} s/epoch"],
    ]  # fmt: skip
    md = "\n".join(
        [
            "## Training recipes against simple baselines (`lepton train`)",
            "",
            f"`python benchmarks/bench_train.py{' --quick' if args.quick else ''}`: each recipe on its bundled "
            "example with default settings (seed 0), scored on its held-out test split with the exported ONNX model; "
            "each baseline trained on the same training and validation rows in the same run.",
            "",
            table(["run", "trained model", "baseline", "goal", "training"], rows),
        ]
    )
    write_result(
        "train", {"checks": checks, "digits": digits, "digits_tuned": tuned, "stocks": stocks, "tickets": tickets}, md
    )
    print(md)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


if __name__ == "__main__":
    main()
