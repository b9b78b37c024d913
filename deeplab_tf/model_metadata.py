"""What the package knows about a saved .keras model beyond Keras' own config: its input size.

    save_model(model, "m.keras", input_size=(257, 257))   # model.save + the metadata entry
    read_metadata("m.keras")                             # {"input_size": [257, 257]} or {}
    recorded_input_size("m.keras")                       # (257, 257) or None

The input size is the size the model was made for: the fixed input of the official file it was
converted from (deeplab_tf.convert / build_model(weights=...): Architecture.input_size), or the
training crop of the run that trained it (deeplab_tf.train; also in the run's
model_signature.json as "input_size"). `export --format=tflite` uses it when --input_size is
not given. The training crop rather than the eval size: evaluation defaults to whole images of
varying size (there is no one eval size), the crop is the context the weights were trained at,
and it is what training's own end-of-run TFLite export has always used.

Where it lives: a small JSON entry, deeplab_tf.json, inside the .keras zip archive, written
after model.save. Not the model config: no layer has an input-size argument (the graph takes
any size, Input (None, None, 3)), and fixing the Input shape would change the model every
predictor runs. Keras' loader reads its own entries (config.json, metadata.json,
model.weights.h5) by name and ignores others, so the file loads anywhere as before; a model
re-saved by a plain model.save simply has no entry, and export falls back to 513x513.
"""
import json
import os
import shutil
import tempfile
import zipfile

METADATA_FILE = "deeplab_tf.json"


def save_model(model, path, **metadata):
    """model.save(path), then the metadata entry (None values are left out)."""
    model.save(path)
    write_metadata(path, {k: v for k, v in metadata.items() if v is not None})
    return str(path)


def write_metadata(path, metadata):
    """Sets the metadata entry of the .keras archive at `path` (replacing an older one)."""
    path = os.fspath(path)
    text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in metadata.items()})
    with zipfile.ZipFile(path) as archive:
        present = METADATA_FILE in archive.namelist()
    if not present:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(METADATA_FILE, text)
        return
    # A zip entry cannot be replaced in place: copy the others into a new archive.
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".keras", delete=False) as staged:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(staged, "w") as target:
            for item in source.infolist():
                if item.filename != METADATA_FILE:
                    target.writestr(item, source.read(item.filename))
            target.writestr(METADATA_FILE, text)
    shutil.move(staged.name, path)


def read_metadata(path):
    """The metadata dict of a .keras file; {} when it has none (or is no zip archive)."""
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        return {}
    with zipfile.ZipFile(path) as archive:
        if METADATA_FILE not in archive.namelist():
            return {}
        try:
            return json.loads(archive.read(METADATA_FILE))
        except ValueError:
            return {}


def recorded_input_size(path):
    """(H, W) recorded for a .keras file, or None."""
    size = read_metadata(path).get("input_size")
    return tuple(int(v) for v in size) if size else None
