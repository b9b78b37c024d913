"""Exporters used by deeplab_tf.export: saved_model.py (TF Serving), tflite.py (LiteRT)."""
