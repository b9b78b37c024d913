"""Datasets: facts (datasets.py), prepare (raw -> TFRecords), the tf.data pipeline, synthetic data.

Importing this package is cheap; TensorFlow is imported by the modules that need it.
"""
