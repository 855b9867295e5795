"""Runs that once got the wrong story (issue 11), and LABELLING.md's
definitions, each on a run that shows the pattern: generated histories,
or a tiny real fit where the pattern comes from training itself."""

import math

import numpy as np
import pytest

import keras_curvewatch as kcw


def _decay(n, start, end, tau):
    t = np.arange(n, dtype=float)
    return end + (start - end) * np.exp(-t / tau)


def _noisy(values, rel, seed):
    rng = np.random.default_rng(seed)
    return np.asarray(values) * np.exp(rng.normal(0.0, rel, len(values)))


def _advice(finding):
    return (finding.message + " " + finding.suggestion).lower()


def test_collapse_to_ln_k_after_chaotic_epochs_is_not_learning():
    # A few wild epochs, then the network predicts a constant: the loss
    # sits at ln 10 exactly and both accuracies at 1/10.
    chaotic = [2.9, 7.5, 3.8, 12.0, 2.6]
    loss = chaotic + [math.log(10)] * 25
    acc = [0.11, 0.09, 0.12, 0.1, 0.1] + [0.1] * 25
    report = kcw.analyze({"loss": loss, "val_loss": loss[1:] + [loss[-1]],
                          "accuracy": acc, "val_accuracy": [0.1] * 30})
    finding = report.get("not_learning")
    assert finding is not None and finding.severity == "critical"
    assert finding.top_cause == "learning_rate"
    assert finding.evidence["chance_level_classes"] == 10
    assert not report.has("metric_loss_mismatch")


def test_real_fit_collapsed_by_a_huge_rate_is_not_learning():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype("float32")
    y = x[:, :3].argmax(axis=1)
    model = keras.Sequential([
        keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(3, activation="softmax")])
    # Adam at 3.0: the loss jumps to hundreds, the ReLUs die, and the
    # network predicts one constant distribution from then on.
    model.compile(keras.optimizers.Adam(3.0),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=20,
                        validation_split=0.2, verbose=0)
    report = kcw.analyze(history)
    finding = report.get("not_learning")
    assert finding is not None, report.codes
    assert finding.top_cause == "learning_rate"
    assert finding.evidence["chance_level_classes"] == 3


def test_chance_level_is_claimed_only_when_the_accuracy_agrees():
    # A flat loss at 5.79 (= ln 328) with accuracy frozen at 0.64: not
    # learning, but no "chance level of 328 classes".
    loss = np.linspace(5.7939, 5.7912, 200)
    report = kcw.analyze({"loss": loss, "accuracy": np.full(200, 0.6429)})
    finding = report.get("not_learning")
    assert finding is not None
    assert "chance" not in finding.message
    assert "chance_level_classes" not in finding.evidence


def test_loss_unbounded_below_blames_loss_labels_or_activation():
    n = 40
    loss = -3e4 * (1 + np.arange(n)) ** 2.2
    report = kcw.analyze({"loss": loss, "val_loss": 2.5 * loss})
    finding = report.get("diverging")
    assert finding is not None and finding.severity == "critical"
    assert finding.top_cause in ("data_quality", "output_activation")
    assert "unbounded below" in finding.message
    assert not report.has("not_converged")
    for f in report.findings:
        assert "raise the learning rate" not in _advice(f)


def test_real_fit_with_targets_outside_the_loss_domain_runs_away():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    # Binary cross-entropy on logits with targets of 0 and 5: -4x per
    # positive sample, so the loss falls without bound.
    y = (5.0 * (x[:, 0] > 0)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0
    report = kcw.analyze(history)
    finding = report.get("diverging")
    assert finding is not None, report.codes
    assert "unbounded below" in finding.message
    assert not report.has("not_converged")


def test_val_loss_100x_train_with_val_accuracy_as_good_is_mismatch():
    n = 30
    loss = _noisy(_decay(n, 0.5, 0.01, 5), 0.02, 1)
    val_loss = _noisy(np.full(n, 1.2), 0.03, 2)
    acc = 1 - 0.2 * loss
    val_acc = np.minimum(acc + 0.002, 1.0)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": acc, "val_accuracy": val_acc})
    finding = report.get("metric_loss_mismatch")
    assert finding is not None
    assert finding.evidence["loss_ratio"] >= 10
    assert not report.has("overfitting")
    assert "dropout" not in _advice(finding)


def test_val_accuracy_frozen_at_majority_share_is_class_imbalance():
    n = 35
    loss = _noisy(_decay(n, 0.8, 0.06, 3), 0.05, 3)
    val_loss = _noisy(_decay(n, 0.78, 0.057, 3), 0.01, 4)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": np.full(n, 0.9866) + 0.001 * np.sin(
                              np.arange(n)),
                          "val_accuracy": np.full(n, 0.98661)})
    finding = report.get("metric_loss_mismatch")
    assert finding is not None and finding.rank >= 1
    assert finding.top_cause == "class_imbalance"
    assert "majority" in finding.message
    for f in report.findings:
        assert not _advice(f).startswith("halve the learning rate")


def test_real_fit_that_learns_the_class_prior_then_freezes_is_mismatch():
    # Uninformative features, 90 % of one class: accuracy climbs for two
    # or three epochs, then sits at the majority share while the loss
    # still falls towards the class entropy.
    import keras

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1000, 10)).astype("float32")
    y = (rng.random(1000) < 0.1).astype("int32")
    model = keras.Sequential([
        keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-3),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=20,
                        validation_split=0.2, verbose=0)
    acc = history.history["accuracy"]
    assert acc[0] < acc[-1] and max(acc[10:]) - min(acc[10:]) < 1e-3
    report = kcw.analyze(history)
    finding = report.get("metric_loss_mismatch")
    assert finding is not None and finding.rank >= 1, report.codes
    assert finding.top_cause == "class_imbalance"
    assert "majority" in finding.message


def test_accuracy_frozen_near_one_is_not_a_class_share():
    # A classifier that has learned: accuracy 0.9998 for the last 15
    # epochs while the loss creeps down. No room to move is not a
    # majority-class predictor.
    n = 25
    loss = _noisy(_decay(n, 0.3, 0.02, 4), 0.01, 5)
    acc = np.minimum(0.9998, 0.9 + 0.02 * np.arange(n))
    report = kcw.analyze({"loss": loss, "accuracy": acc})
    assert not report.has("metric_loss_mismatch"), report.codes


def test_metric_frozen_while_loss_moves_is_mismatch():
    n = 12
    loss = _decay(n, 3.9, 1.9, 3)
    report = kcw.analyze({"loss": loss, "accuracy": np.full(n, 0.00025)})
    assert report.has("metric_loss_mismatch")


def test_one_nan_epoch_then_recovery_is_not_the_end_of_learning():
    loss = list(_decay(20, 1.2, 0.1, 5))
    loss[8] = float("nan")
    report = kcw.analyze({"loss": loss})
    finding = report.get("nan_loss")
    assert finding is not None
    assert "nothing after that point was learned" not in finding.message
    assert "recovered at epoch 9" in finding.message


def test_nan_in_every_epoch_with_a_frozen_metric_is_not_learning():
    nan = [float("nan")] * 10
    report = kcw.analyze({"loss": nan, "mae": [2.6e34] + [0.9535] * 9})
    assert report.has("nan_loss") and report.has("not_learning")
    # Without a finite metric nothing shows more than the NaN itself.
    report = kcw.analyze({"loss": nan, "mae": nan})
    assert report.has("nan_loss") and not report.has("not_learning")


def test_learning_rate_cut_without_effect_rules_the_rate_out():
    # ReduceLROnPlateau cut the rate 1000x; the loss zig-zags on as before.
    n = 40
    t = np.arange(n)
    loss = 0.6 * (1 + 0.15 * np.where(t % 2, 1, -1))
    lr = np.where(t < 15, 1e-3, np.where(t < 25, 1e-4, 1e-6))
    report = kcw.analyze({"loss": loss, "learning_rate": lr})
    finding = report.get("train_oscillation")
    assert finding is not None
    assert finding.causes[-1][0] == "learning_rate"
    assert "not the rate" in finding.causes[-1][1]
    assert "halve the learning rate" not in finding.suggestion.lower()
    assert finding.evidence["learning_rate_min"] == pytest.approx(1e-6)
    assert finding.evidence["learning_rate_max"] == pytest.approx(1e-3)


def test_learning_rate_cut_explains_the_drop_after_a_plateau():
    n = 30
    t = np.arange(n)
    loss = np.where(t < 10, 2.3, 0.4 + 1.9 * np.exp(-(t - 10) / 2.0))
    loss = _noisy(loss, 0.002, 5)
    lr = np.where(t < 10, 1e-1, 1e-2)
    report = kcw.analyze({"loss": loss, "learning_rate": lr})
    finding = report.get("plateau_then_drop")
    assert finding is not None
    assert finding.top_cause == "learning_rate"
    assert "explains" in finding.causes[0][1]


def test_short_run_with_train_accuracy_near_one_is_overfitting():
    n = 6
    loss = np.array([0.6, 0.2, 0.08, 0.04, 0.02, 0.012])
    val_loss = np.array([0.55, 0.45, 0.42, 0.41, 0.42, 0.41])
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": [0.8, 0.93, 0.97, 0.99, 0.995, 0.998],
                          "val_accuracy": [0.8, 0.84, 0.85, 0.85, 0.85,
                                           0.85]})
    assert report.has("overfitting")
    assert not report.has("not_converged")


def test_slow_straight_line_decline_is_not_converged():
    n = 20
    loss = _noisy(np.linspace(0.69, 0.36, n), 0.01, 6)
    val_loss = _noisy(np.linspace(0.70, 0.40, n), 0.01, 7)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss})
    finding = report.get("not_converged")
    assert finding is not None
    assert finding.evidence["straight_line"] == 1.0


def test_blip_at_the_floor_of_a_long_fall_is_no_spike():
    # 0.015 -> 0.05 -> 0.015 on a curve that fell from 2.3: invisible on
    # a plot of the run, so not a loss_spike.
    loss = _noisy(_decay(40, 2.3, 0.015, 4), 0.02, 8)
    loss[30] = 0.05
    report = kcw.analyze({"loss": loss})
    assert not report.has("loss_spike")


def test_isolated_visible_jump_is_a_spike():
    loss = _noisy(_decay(30, 1.0, 0.3, 6), 0.02, 9)
    val = _noisy(_decay(30, 1.0, 0.35, 6), 0.02, 10)
    val[15] = 1.4
    report = kcw.analyze({"loss": loss, "val_loss": val})
    finding = report.get("loss_spike")
    assert finding is not None and finding.epoch == 15


def test_context_line_shows_the_logged_rates_whole_range():
    """A logged ReduceLROnPlateau cut is in the context line, not only the
    first rate (issue 11, part 3)."""
    rates = [1e-2] * 5 + [1e-3] * 3 + [1e-5] * 2
    report = kcw.analyze({
        "loss": [1, .8, .7, .65, .62, .61, .6, .6, .6, .6],
        "val_loss": [1.1, .9, .8, .75, .74, .74, .74, .74, .74, .74],
        "lr": rates})
    (line,) = [l for l in str(report).splitlines()
               if l.startswith("Context")]
    assert "learning_rate=0.01 (logged: 0.01 -> 1e-05" in line
    assert "range 1e-05-0.01" in line
    steady = kcw.analyze({"loss": [1, .8, .7, .65, .62, .61],
                          "lr": [1e-3] * 6})
    assert "logged:" not in str(steady)
    assert kcw.Report.from_json(report.to_json()) == report


def test_a_bump_over_a_few_epochs_of_a_long_run_is_a_spike():
    # Adam near a zero loss: the training loss climbs from 0.04 to 0.5
    # over four epochs and falls back over five more, in a 150-epoch run.
    # On a plot of the whole run that is one jump, and it came back.
    loss = _noisy(_decay(150, 2.0, 0.01, 8), 0.05, 9)
    bump = [0.04, 0.09, 0.2, 0.34, 0.5, 0.41, 0.3, 0.16, 0.07, 0.03]
    loss[58:68] = bump
    report = kcw.analyze({"loss": loss})
    finding = report.get("loss_spike")
    assert finding is not None, report.codes
    assert finding.epoch in range(58, 68)
    assert not report.has("diverging")


def test_a_rise_over_the_first_epochs_is_not_a_spike():
    # The validation loss climbs for four epochs before training takes
    # hold: the start of training, with no level to jump from.
    n = 140
    val = _noisy(_decay(n, 0.9, 0.45, 20), 0.03, 11)
    val[:9] = [1.5, 2.0, 3.1, 3.4, 3.5, 3.2, 2.8, 2.1, 1.6]
    report = kcw.analyze({"loss": _decay(n, 1.2, 0.1, 30), "val_loss": val})
    assert not report.has("loss_spike"), report.codes


def test_a_kick_then_a_steady_recovery_is_a_spike():
    # Epoch 9 of 18: the loss jumps 3.4x, then retrains back down over
    # four epochs. It did not come back in one or two epochs, yet it is
    # one isolated jump, not a divergence.
    loss = [0.549, 0.239, 0.206, 0.198, 0.193, 0.188, 0.184, 0.179, 0.175,
            0.603, 0.447, 0.374, 0.316, 0.287, 0.277, 0.262, 0.249, 0.238]
    report = kcw.analyze({"loss": loss})
    finding = report.get("loss_spike")
    assert finding is not None, report.codes
    assert finding.epoch == 9
    assert not report.has("diverging")


def test_a_steady_fall_with_noise_has_no_recovery_spike():
    loss = _noisy(_decay(40, 1.0, 0.2, 8), 0.01, 21)
    assert not kcw.analyze({"loss": loss}).has("loss_spike")


def test_visible_zigzag_is_val_fluctuation_whatever_n_val_explains():
    # 80 validation samples: their sampling error explains much of this
    # noise, yet the curve visibly zig-zags by 8-15 % of its level while
    # the training loss falls smoothly: that is the shape LABELLING.md
    # calls val_fluctuation (the small set is its first cause).
    n = 24
    loss = _decay(n, 0.6, 0.52, 4)
    val = 0.48 * np.array([1.0, 1.1, 0.97, 1.09, 0.98, 1.12, 0.99, 1.1,
                           0.97, 1.08] * 3)[:n]
    report = kcw.analyze({"loss": loss, "val_loss": val}, n_val=80)
    finding = report.get("val_fluctuation")
    assert finding is not None, report.codes
    assert finding.top_cause == "validation_size"
    assert "80" in " ".join(text for _, text in finding.causes)



def test_real_fit_that_climbs_into_a_nan_is_diverging_and_nan():
    import keras

    # SGD on a regression with a rate that grows 1.6x an epoch: the loss
    # falls, climbs for several epochs, then overflows.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (3.0 * (x @ rng.normal(size=8) + np.sin(x[:, 0]))).astype("float32")
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(2e-3, momentum=0.9), "mse")
    ramp = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: 2e-3 * 1.6 ** epoch)
    history = model.fit(x, y, batch_size=32, epochs=18, verbose=0,
                        callbacks=[ramp])
    loss = np.asarray(history.history["loss"])
    first_bad = int(np.flatnonzero(~np.isfinite(loss))[0])
    assert first_bad >= 5
    assert loss[first_bad - 1] > 1.5 * np.min(loss[:first_bad])
    report = kcw.analyze(history)
    assert report.has("nan_loss")
    finding = report.get("diverging")
    assert finding is not None, report.codes
    assert f"NaN/inf at epoch {first_bad}" in finding.message


def test_one_jump_straight_into_a_nan_is_not_diverging():
    loss = list(_decay(12, 1.0, 0.3, 3)) + [4.0] + [float("nan")] * 3
    report = kcw.analyze({"loss": loss})
    assert report.has("nan_loss")
    assert not report.has("diverging")


def test_slow_line_losing_a_few_percent_a_third_is_not_converged():
    # Adagrad at a low rate, as logged (3-digit CSV): the last third still
    # falls 4 % of its level, half as fast as the middle third did; the
    # last tenth alone gains under 3 %.
    loss = [1.42, 1.37, 1.33, 1.30, 1.28, 1.26, 1.24, 1.22, 1.20, 1.19,
            1.17, 1.16, 1.15, 1.14, 1.12, 1.11, 1.10, 1.09, 1.08, 1.07]
    val_loss = [1.37, 1.33, 1.30, 1.28, 1.25, 1.23, 1.22, 1.20, 1.19, 1.17,
                1.16, 1.15, 1.14, 1.12, 1.11, 1.10, 1.09, 1.08, 1.08, 1.07]
    report = kcw.analyze({"loss": loss, "val_loss": val_loss})
    finding = report.get("not_converged")
    assert finding is not None, report.codes
    assert finding.evidence["straight_line"] == 1.0
    assert "raise the learning rate" in _advice(finding)


def test_a_kick_half_undone_in_one_epoch_then_slowly_is_a_spike():
    # A kick to the weights doubles the loss; the next epoch undoes half
    # of it (1.48x the epoch after, under a one-epoch spike's 1.5x) and
    # three more bring it back to its old level.
    loss = [0.495, 0.234, 0.194, 0.189, 0.186, 0.182, 0.178, 0.176, 0.354,
            0.239, 0.207, 0.192, 0.179, 0.172, 0.165, 0.159]
    report = kcw.analyze({"loss": loss})
    finding = report.get("loss_spike")
    assert finding is not None, report.codes
    assert finding.epoch == 8
    # The same jump with no way back is not a spike.
    climb = loss[:9] + [0.36, 0.37, 0.38, 0.39, 0.40, 0.41, 0.42]
    assert not kcw.analyze({"loss": climb}).has("loss_spike")


def test_a_wandering_zigzag_with_no_trend_is_train_oscillation():
    # SGD with momentum 0.95 at 0.3: the loss wanders up and down by
    # 5-20 % of its level for 25 epochs and ends near where it began.
    loss = [0.9324, 1.1491, 1.0889, 1.0838, 1.0151, 0.9777, 0.9865, 0.9207,
            0.8147, 0.9228, 0.8649, 0.9383, 0.9274, 1.0071, 0.9809, 0.8754,
            0.8662, 0.845, 0.865, 0.8326, 0.8285, 0.8067, 0.8121, 0.8803,
            0.8722]
    report = kcw.analyze({"loss": loss})
    finding = report.get("train_oscillation")
    assert finding is not None, report.codes
    assert finding.severity == "info"
    # A smooth fall with 1 % noise is not an oscillation.
    calm = _noisy(_decay(25, 1.2, 0.4, 6), 0.01, 3)
    assert not kcw.analyze({"loss": calm}).has("train_oscillation")


def test_bounces_at_a_near_zero_floor_are_neither_divergence_nor_noise():
    # A noiseless regression fitted to a zero loss: Adam bounces between
    # 1e-6 and 1e-4 at the floor after a fall from 2.7. On a plot of the
    # run that is a flat line, not a divergence or an oscillation.
    rng = np.random.default_rng(0)
    fall = np.geomspace(2.7, 1e-5, 300)
    floor = 1e-5 * np.exp(np.cumsum(rng.normal(0, 0.4, 300)) * 0.2
                          + rng.normal(0, 0.5, 300))
    floor[-40:] *= np.linspace(1, 12, 40)  # a last climb to 1e-4
    loss = np.concatenate([fall, floor])
    assert loss[-1] > 10 * loss[300:].min()
    report = kcw.analyze({"loss": loss})
    assert not report.has("diverging"), report.get("diverging")
    assert not report.has("train_oscillation")
    # The same climb from 0.05 of a fall from 1.0 to 0.02 is visible.
    visible = np.concatenate([np.geomspace(1.0, 0.02, 40),
                              np.geomspace(0.02, 0.3, 20)])
    assert kcw.analyze({"loss": visible}).has("diverging")


def test_two_losses_at_a_floor_far_apart_in_ratio_are_no_mismatch():
    # Both losses fall from 0.5 to a floor: 0.0007 and 0.012 are 17x
    # apart, with accuracies of 1.0 and 0.998, but 2 % of the plot apart.
    n = 15
    loss = _decay(n, 0.5, 0.0005, 1.5)
    val_loss = _decay(n, 0.34, 0.012, 1.2)
    acc = np.minimum(1.0, 0.8 + 0.2 * (1 - loss / 0.5) + 0.0)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": acc, "val_accuracy": acc - 0.002})
    assert val_loss[-1] > 10 * loss[-1]
    assert not report.has("metric_loss_mismatch")


def test_training_loss_falling_to_meet_a_flat_validation_loss_is_fine():
    # With Dropout the training loss lies above the validation loss; it
    # falls on to meet a validation loss that has levelled off: the gap
    # closes, it does not widen.
    n = 30
    val_loss = _noisy(_decay(n, 0.8, 0.20, 3), 0.005, 1)
    loss = _noisy(_decay(n, 1.2, 0.205, 9), 0.005, 2)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss})
    assert loss[-1] < loss[10] * 0.75 and val_loss[-1] < loss[-1] * 1.05
    assert not report.has("overfitting")
    # The same validation curve with the training loss falling on below
    # it is overfitting.
    below = _noisy(_decay(n, 0.9, 0.05, 9), 0.005, 3)
    assert kcw.analyze({"loss": below, "val_loss": val_loss}).has(
        "overfitting")
