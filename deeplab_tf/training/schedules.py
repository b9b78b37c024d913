"""Learning-rate schedules.

The DeepLab papers (v2 Sec. 4.1, v3 Sec. 4) use the "poly" policy
    lr(step) = base_lr * (1 - step / max_steps) ** power,   power = 0.9,
(official research/deeplab/utils/train_utils.get_model_learning_rate, tf.train.polynomial_decay
with end_learning_rate 0). Two optional starts:
  * slow start (official `slow_start_step` / `slow_start_learning_rate`): a constant small LR
    for the first steps, then the poly value of the current step;
  * linear warm-up: the poly value scaled by step / warmup_steps.
"""
import keras
import tensorflow as tf


def poly_learning_rate(step, *, base_learning_rate, train_steps, power=0.9,
                       end_learning_rate=0.0, warmup_steps=0, slow_start_steps=0,
                       slow_start_learning_rate=1e-4):
    """Poly LR at `step` (a scalar tensor or number, 0-based; the LR used for update step+1).

    Matches tf.compat.v1.train.polynomial_decay(base, step, train_steps, end, power): the step
    is clipped to train_steps, so the LR stays at end_learning_rate afterwards.
    """
    step = tf.cast(step, tf.float32)
    clipped = tf.minimum(step, float(train_steps))
    fraction = 1.0 - clipped / float(max(train_steps, 1))
    lr = (base_learning_rate - end_learning_rate) * tf.pow(fraction, power) + end_learning_rate
    if warmup_steps > 0:
        lr = lr * tf.minimum(1.0, (step + 1.0) / float(warmup_steps))
    if slow_start_steps > 0:
        lr = tf.where(step < float(slow_start_steps),
                      tf.constant(slow_start_learning_rate, tf.float32), lr)
    return lr


@keras.saving.register_keras_serializable(package="deeplab_tf")
class PolyLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Keras schedule wrapper of poly_learning_rate (called with optimizer.iterations)."""

    def __init__(self, base_learning_rate, train_steps, power=0.9, end_learning_rate=0.0,
                 warmup_steps=0, slow_start_steps=0, slow_start_learning_rate=1e-4):
        self.base_learning_rate = float(base_learning_rate)
        self.train_steps = int(train_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.slow_start_steps = int(slow_start_steps)
        self.slow_start_learning_rate = float(slow_start_learning_rate)

    def __call__(self, step):
        return poly_learning_rate(step, **self.get_config())

    def get_config(self):
        return {"base_learning_rate": self.base_learning_rate, "train_steps": self.train_steps,
                "power": self.power, "end_learning_rate": self.end_learning_rate,
                "warmup_steps": self.warmup_steps, "slow_start_steps": self.slow_start_steps,
                "slow_start_learning_rate": self.slow_start_learning_rate}
