"""Training: schedules, losses, the compiled train step and loop, periodic evaluation
(its confusion matrix and metrics are deeplab_tf.metrics)."""
