"""Official TF1 scope names <-> Keras layer names.

Keras 3 refuses "/" in layer names, so every layer that has an official counterpart is named
after the official scope with "/" replaced by "." (e.g. "MobilenetV2/expanded_conv_3/depthwise"
-> "MobilenetV2.expanded_conv_3.depthwise"). The mapping is reversible, which keeps converting
official weights a name map rather than a guess (deeplab_tf/weights/official.py).
"""

SEPARATOR = "."


def keras_name(*scopes):
    """Joins official scope parts ("a/b", "c") into one Keras layer name ("a.b.c")."""
    parts = []
    for scope in scopes:
        if scope:
            parts.extend(p for p in scope.split("/") if p)
    return SEPARATOR.join(parts)


def official_scope(layer_name):
    """Inverse of keras_name: "a.b.c" -> "a/b/c"."""
    return layer_name.replace(SEPARATOR, "/")
