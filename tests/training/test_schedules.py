"""Poly learning rate against hand-computed values."""
import pytest

from deeplab_tf.training.schedules import PolyLearningRate, poly_learning_rate


def test_poly_matches_hand_computed_values():
    # lr = 0.007 * (1 - step / 100) ** 0.9, by hand:
    #   step 0   -> 0.007
    #   step 50  -> 0.007 * 0.5 ** 0.9 = 0.007 * 0.535886731 = 0.003751207
    #   step 90  -> 0.007 * 0.1 ** 0.9 = 0.007 * 0.125892541 = 0.000881248
    #   step 100 -> 0, and stays 0 after the end (clipped like tf polynomial_decay)
    expected = {0: 0.007, 50: 0.003751207, 90: 0.000881248, 100: 0.0, 150: 0.0}
    for step, value in expected.items():
        lr = float(poly_learning_rate(step, base_learning_rate=0.007, train_steps=100))
        assert lr == pytest.approx(value, rel=1e-5, abs=1e-9), step


def test_slow_start_and_warmup():
    kw = dict(base_learning_rate=0.01, train_steps=1000)
    # slow start: constant 1e-4 before step 10, then the poly value of the step.
    assert float(poly_learning_rate(9, slow_start_steps=10, **kw)) == pytest.approx(1e-4)
    assert float(poly_learning_rate(10, slow_start_steps=10, **kw)) == pytest.approx(
        0.01 * (1 - 10 / 1000) ** 0.9, rel=1e-6)
    # linear warm-up over 4 steps: the update at step s uses (s + 1) / 4 of the poly value.
    assert float(poly_learning_rate(0, warmup_steps=4, **kw)) == pytest.approx(0.0025)
    assert float(poly_learning_rate(1, warmup_steps=4, **kw)) == pytest.approx(
        0.01 * (1 - 1 / 1000) ** 0.9 * 0.5, rel=1e-6)
    assert float(poly_learning_rate(500, warmup_steps=4, **kw)) == pytest.approx(
        0.01 * 0.5 ** 0.9, rel=1e-6)


def test_schedule_config_round_trip():
    schedule = PolyLearningRate(0.007, 30000, warmup_steps=5)
    again = PolyLearningRate(**schedule.get_config())
    assert float(again(1234)) == pytest.approx(float(schedule(1234)))
