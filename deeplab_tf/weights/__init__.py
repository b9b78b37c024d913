"""Weights from elsewhere into our models.

official.py          official TF1 names -> our layers (strict, all-or-nothing loading)
tflite_reader.py     official .tflite files (float and quantized) -> official names
checkpoint_reader.py TF1 model zoo checkpoints <-> official names
architecture.py      which preset, depth multiplier, output stride and classes a file holds
download.py          official addresses, cache folder, sha256 check
imagenet.py          Keras ImageNet weights -> our backbones (training)
"""
