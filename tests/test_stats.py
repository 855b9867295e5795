"""Statistics on fixtures whose truth is known by construction."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_curvewatch.engine import batch_series
from keras_curvewatch.engine import stats


@pytest.mark.parametrize("sigma", [0.01, 0.1, 2.0])
def test_noise_level_recovers_white_noise_sigma(sigma):
    rng = np.random.default_rng(1)
    estimates = [stats.noise_level(rng.normal(5.0, sigma, 60))
                 for _ in range(200)]
    assert np.median(estimates) == pytest.approx(sigma, rel=0.08)


def test_noise_level_ignores_smooth_trend():
    rng = np.random.default_rng(2)
    t = np.arange(80)
    trend = 2.0 * np.exp(-t / 15.0) + 0.001 * t**1.5
    estimates = [stats.noise_level(trend + rng.normal(0, 0.05, len(t)))
                 for _ in range(100)]
    assert np.median(estimates) == pytest.approx(0.05, rel=0.12)


def test_noise_level_is_robust_to_a_planted_spike():
    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 0.02, 50)
    clean = stats.noise_level(values)
    values[25] += 5.0
    assert stats.noise_level(values) == pytest.approx(clean, rel=0.25)


def test_relative_noise_is_scale_free():
    rng = np.random.default_rng(4)
    decay = np.exp(-np.arange(40) / 10.0)
    curves = [decay * np.exp(rng.normal(0, 0.05, 40)) for _ in range(200)]
    base = curves[0]
    assert stats.relative_noise_level(base) == pytest.approx(
        stats.relative_noise_level(1000 * base)
    )
    estimates = [stats.relative_noise_level(c) for c in curves]
    assert np.median(estimates) == pytest.approx(0.05, rel=0.1)
    assert math.isnan(stats.relative_noise_level(base - 0.5))


def test_flip_rate_white_noise_monotone_and_alternating():
    rng = np.random.default_rng(5)
    assert stats.flip_rate(rng.normal(size=3000)) == pytest.approx(
        2 / 3, abs=0.03)
    assert stats.flip_rate(np.arange(20.0)) == 0.0
    assert stats.flip_rate(np.array([0, 1, 0, 1, 0, 1.0])) == 1.0


def test_trend_detects_known_slope_and_its_absence():
    rng = np.random.default_rng(6)
    t = np.arange(30.0)
    slope, tau, p = stats.trend(0.5 - 0.01 * t + rng.normal(0, 0.01, 30))
    assert slope == pytest.approx(-0.01, rel=0.2)
    assert tau < 0 and p < 0.001
    flat_p = [stats.trend(rng.normal(size=30))[2] for _ in range(200)]
    # Under no trend, p-values are about uniform: ~5 % fall below 0.05.
    assert np.mean(np.array(flat_p) < 0.05) < 0.12


def test_spike_scores_find_a_planted_spike():
    rng = np.random.default_rng(7)
    values = 1.0 + rng.normal(0, 0.01, 40)
    values[17] += 0.5
    sigma = stats.noise_level(values)
    scores = stats.spike_scores(values, sigma)
    assert int(np.nanargmax(scores)) == 17
    assert scores[17] > 20
    # The steep start of a falling curve is not a spike.
    falling = np.exp(-np.arange(20) / 2.0)
    assert np.nanmax(stats.spike_scores(falling, 0.01)) <= 0


def test_robust_smooth_follows_trend_and_ignores_spike():
    t = np.arange(30.0)
    values = 1.0 / (1.0 + t)
    values_spiked = values.copy()
    values_spiked[12] = 5.0
    smooth = stats.robust_smooth(values_spiked)
    assert abs(smooth[12] - values[12]) < 0.02
    assert np.argmin(stats.robust_smooth(values)) == 29


def test_binomial_standard_error():
    assert stats.binomial_standard_error(0.5, 100) == pytest.approx(0.05)
    assert stats.binomial_standard_error(1.0, 10) == 0.0


def _epochs_of_losses(n_epochs, steps, rng, profile):
    losses = []
    for epoch in range(n_epochs):
        # Learning lowers the loss continuously, batch after batch.
        level = 1.0 / (1 + epoch + np.arange(steps) / steps)
        losses.extend(level * (1 + profile + rng.normal(0, 0.05, steps)))
    return np.array(losses)


def test_batch_periodicity_tells_sawtooth_from_repeated_order():
    rng = np.random.default_rng(8)
    steps = 20
    sawtooth = np.linspace(-0.5, 0.5, steps)
    saw = batch_series.batch_periodicity(
        _epochs_of_losses(6, steps, rng, sawtooth), steps)
    assert saw["p_value"] < 1e-6 and saw["profile_lag1"] > 0.8
    fixed = rng.normal(0, 0.3, steps)
    repeated = batch_series.batch_periodicity(
        _epochs_of_losses(6, steps, rng, fixed), steps)
    assert repeated["p_value"] < 1e-6 and repeated["profile_lag1"] < 0.5
    shuffled = batch_series.batch_periodicity(
        _epochs_of_losses(6, steps, rng, 0.0), steps)
    assert shuffled["p_value"] > 1e-3


def test_short_inputs_give_nan_not_errors():
    for values in ([], [1.0], [1.0, 2.0]):
        assert math.isnan(stats.noise_level(values))
        assert math.isnan(stats.flip_rate(values))
        assert all(math.isnan(v) for v in stats.trend(values))
        assert len(stats.robust_smooth(values)) == len(values)
    assert batch_series.batch_periodicity([1.0] * 10, 4) == {}


_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e308, max_value=1e308),
    st.just(0.0),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_float, min_size=0, max_size=40))
def test_statistics_never_raise_on_any_curve(values):
    values = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        smooth = stats.robust_smooth(values)
        assert smooth.shape == values.shape
        noise = stats.noise_level(values)
        assert math.isnan(noise) or noise >= 0
        rate = stats.flip_rate(values)
        assert math.isnan(rate) or 0.0 <= rate <= 1.0
        stats.trend(values)
        stats.relative_noise_level(values)
        stats.spike_scores(values, 1.0)
        batch_series.batch_periodicity(values, 4)
        batch_series.batch_noise(values, 4)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6), st.integers(3, 30))
def test_constant_curves_have_zero_noise_and_no_trend(value, n):
    values = np.full(n, value)
    noise = stats.noise_level(values)
    assert math.isnan(noise) or noise == 0.0
    assert math.isnan(stats.flip_rate(values))
    slope, tau, p = stats.trend(values)
    assert math.isnan(slope) or slope == 0.0


@settings(max_examples=150, deadline=None)
@given(st.lists(_float, min_size=0, max_size=40), st.integers(0, 8))
def test_trend_test_is_the_test_of_trend(values, start):
    # The rules that read only tau and p call trend_test, which skips the
    # Theil-Sen slope: it must give exactly trend's tau and p.
    values = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        expected = stats.trend(values, start)[1:]
        got = stats.trend_test(values, start)
    np.testing.assert_array_equal(got, expected)  # NaN equal to NaN


def test_trend_test_matches_trend_on_trends_and_ties():
    rng = np.random.default_rng(11)
    t = np.arange(300.0)
    for values in (np.exp(-t / 50) + rng.normal(0, 0.01, 300),
                   np.round(rng.normal(size=300), 1),  # many ties
                   np.where(t % 7 == 0, np.nan, 0.001 * t)):
        tau, p = stats.trend_test(values, 20)
        assert (tau, p) == stats.trend(values, 20)[1:]
        assert np.isfinite(tau) and np.isfinite(p)


def _running_median_by_loop(values, window):
    """The definition: one median per point, shrinking at the edges."""
    half, n = window // 2, len(values)
    return np.array([
        np.median(values[i - min(half, i, n - 1 - i):
                         i + min(half, i, n - 1 - i) + 1])
        for i in range(n)
    ])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=40),
       st.sampled_from([3, 5, 7]))
def test_running_median_equals_its_definition(values, window):
    values = np.asarray(values, dtype=np.float64)
    np.testing.assert_array_equal(
        stats.running_median(values, window),
        _running_median_by_loop(values, window))


@pytest.mark.parametrize("n", [5, 6, 40, 333, 2000])
def test_exact_theil_sen_matches_scipy_to_the_bit(n):
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(n)
    x = np.sort(rng.choice(3 * n, n, replace=False)).astype(np.float64)
    y = np.round(rng.normal(size=n) + 0.01 * x, 2)  # with tied values
    assert stats.theil_sen_slope(x, y) == scipy_stats.theilslopes(y, x)[0]


def test_sampled_theil_sen_is_close_to_exact_and_deterministic():
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(0)
    n = 3000  # past THEIL_SEN_MAX_PAIRS: the sampled path
    assert n * (n - 1) // 2 > stats.THEIL_SEN_MAX_PAIRS
    x = np.arange(n, dtype=np.float64)
    y = np.exp(-x / 600) + rng.normal(0, 0.05, n)
    exact = scipy_stats.theilslopes(y, x)[0]
    sampled = stats.theil_sen_slope(x, y)
    assert abs(sampled - exact) < 0.01 * abs(exact)
    assert stats.theil_sen_slope(x, y) == sampled


def test_sampled_theil_sen_resists_a_quarter_of_outliers():
    rng = np.random.default_rng(1)
    n = 5000
    x = np.arange(n, dtype=np.float64)
    y = 0.002 * x + rng.normal(0, 0.1, n)
    bad = rng.choice(n, n // 4, replace=False)
    y[bad] = 1e6 * rng.random(len(bad))  # 25 % < 29.3 % breakdown point
    assert abs(stats.theil_sen_slope(x, y) - 0.002) < 0.0005
