"""Benchmarks behind the one CLI, `python -m deeplab_tf.benchmark --what=...`:

  latency.py                model latency per runtime (Keras, SavedModel, our TFLite exports)
                            beside the official TFLite files
  pipeline.py               training input pipeline images/s
  training_speed.py         compiled train step images/s, one process per configuration (the
                            process it spawns is `python -m deeplab_tf.benchmarks.training_speed`)
  torchvision_reference.py  torchvision's DeepLabV3-ResNet50 step timed the same way (a script
                            for an interpreter with torch; imports nothing from deeplab_tf)
  crf.py                    DenseCRF seconds per image and the pool's images/s

These are library modules: they import no entry point (deeplab_tf.benchmark imports them).
"""
