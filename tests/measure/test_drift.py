"""Drift statistics on seeded streams: no alarm on the same distribution (the false-alarm rate measured over many
windows), an alarm within a stated number of rows after a one-standard-deviation shift of one feature, and the
text, image and output features."""

from __future__ import annotations

import numpy as np

from lepton.measure.drift import MIN_ROWS, Window, compare, features, ks_test, profile, psi

FEATURES = 8
WINDOW = 300


def rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    x = rng.standard_normal((n, FEATURES))
    x[:, 3] += shift
    return {"x": x.astype(np.float32)}


def reference() -> object:
    return profile(features(rows(np.random.default_rng(0), 2000)), "seeded N(0, 1)")


def test_the_same_distribution_raises_no_alarm_over_200_windows() -> None:
    ref = reference()
    alarms = 0
    for seed in range(1, 201):
        report = compare("m", ref, features(rows(np.random.default_rng(seed), WINDOW)))  # type: ignore[arg-type]
        alarms += report.alert
        assert report.judged and len(report.features) == FEATURES
    assert alarms / 200 <= 0.01, alarms  # measured: 0 of 200 (0 of 1600 feature-windows)


def test_a_one_sd_shift_in_one_feature_alarms_within_200_rows() -> None:
    ref = reference()
    worst = 0
    for seed in range(1, 11):
        rng = np.random.default_rng(seed)
        window = Window(WINDOW)
        for _ in range(WINDOW // 10):  # a full window of unshifted traffic first, in requests of 10 rows
            window.add(features(rows(rng, 10)))
            assert not compare("m", ref, window.features()).alert  # type: ignore[arg-type]
        shifted = 0
        while True:
            window.add(features(rows(rng, 10, shift=1.0)))
            shifted += 10
            report = compare("m", ref, window.features())  # type: ignore[arg-type]
            if report.alert:
                break
            assert shifted < 300, "no alarm after 300 shifted rows"
        assert [f.name for f in report.drifted] == ["x[3]"]  # only the shifted feature
        worst = max(worst, shifted)
    assert worst <= 200, worst  # measured: 110-160 shifted rows over seeds 1-10, window 300


def test_a_window_too_short_is_not_judged() -> None:
    report = compare("m", reference(), features(rows(np.random.default_rng(1), MIN_ROWS - 1, shift=3)))  # type: ignore[arg-type]
    assert not report.judged and not report.alert


def test_text_features_are_lengths_and_vocabulary() -> None:
    rng = np.random.default_rng(0)

    def batch(n: int, longer: int, vocab: int) -> dict[str, np.ndarray]:
        ids = np.zeros((n, 40), np.int64)
        mask = np.zeros((n, 40), np.int64)
        for i in range(n):
            k = int(rng.integers(5, 15)) + longer
            ids[i, :k] = rng.integers(100, vocab, k)
            mask[i, :k] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    ref = profile(features(batch(1000, 0, 300)), "sentences")
    assert set(ref.numeric) == {"input_ids.length"} and set(ref.categorical) == {"input_ids.tokens"}
    same = compare("m", ref, features(batch(300, 0, 300)))
    assert not same.alert
    other = compare("m", ref, features(batch(300, 15, 3000)))
    assert {f.name for f in other.drifted} == {"input_ids.length", "input_ids.tokens"}


def test_image_channels_and_classifier_outputs() -> None:
    rng = np.random.default_rng(0)

    def batch(n: int, bright: float, bias: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        img = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
        img[:, 1] += bright
        logits = rng.standard_normal((n, 4)).astype(np.float32)
        logits[:, 0] += bias
        return {"image": img}, {"logits": logits}

    ref = profile(features(*batch(1000, 0, 0), task="classification"), "images")
    assert {"image.c0.mean", "image.c2.std", "logits.confidence"} <= set(ref.numeric)
    assert set(ref.categorical) == {"logits.class"}
    assert not compare("m", ref, features(*batch(300, 0, 0), task="classification")).alert
    drifted = {f.name for f in compare("m", ref, features(*batch(300, 1.0, 3.0), task="classification")).drifted}
    assert {"image.c1.mean", "logits.class", "logits.confidence"} <= drifted and "image.c0.mean" not in drifted


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    e = np.full(10, 0.1)
    assert psi(e, e) == 0.0
    assert psi(e, np.r_[np.full(5, 0.15), np.full(5, 0.05)]) > psi(e, np.r_[np.full(5, 0.12), np.full(5, 0.08)]) > 0


def test_ks_agrees_with_scipy() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(3)
    a, b = np.sort(rng.standard_normal(2000)), rng.standard_normal(300) + 0.2
    d, p = ks_test(a, b)
    want = ks_2samp(a, b, method="asymp")
    assert abs(d - want.statistic) < 1e-12 and abs(p - want.pvalue) < 0.1 * want.pvalue + 1e-6
