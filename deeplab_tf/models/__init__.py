"""DeepLab models: backbones, heads, presets, build_model / model_info and counting.

Public entry points: deeplab_tf.models.builder.build_model and model_info,
deeplab_tf.models.presets.PRESETS, deeplab_tf.models.summary.summarize. Importing this package
does not import TensorFlow.
"""
