"""Tiny weight files in the layout of the files keras.applications downloads (legacy HDF5: one
group per layer name, its "weight_names" in get_weights() order), for tests that start a run the
way a recipe says (--init=imagenet) without the 528 MB VGG-16 file."""
import h5py
import numpy as np

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"   # keras/src/applications/vgg16.py


def write_keras_vgg16_file(path, model, seed=0):
    """Writes a VGG-16 file (with its fc1/fc2 top) whose shapes fit `model`, one of our VGG-16
    DeepLab models at any width: blockB_convI kernels as our vgg_16.convB.convB_I, and fc1/fc2 as
    the 7x7 / 1x1 layers whose DeepLab v1 decimation (every 3rd tap, every 4th channel) gives our
    fc6 / fc7 widths (for a 7x7 fc6, FCN / Dilation: the same widths; a model without fc6,
    SegNet, gets no fc layers). Values are random at He scale (so a network started from them
    trains).
    Returns {keras layer name: [arrays]}."""
    rng = np.random.RandomState(seed)

    def he(*shape):
        fan_in = int(np.prod(shape[:-1]))
        return (rng.randn(*shape) * np.sqrt(2.0 / fan_in)).astype("float32")

    layers = {}
    for block, count in {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}.items():
        for i in range(1, count + 1):
            kernel = model.get_layer(f"vgg_16.conv{block}.conv{block}_{i}").kernel.shape
            layers[f"block{block}_conv{i}"] = [he(*kernel),
                                               rng.randn(kernel[-1]).astype("float32") * 0.01]
    fc6_name = next((n for n in ("fc6", "fc6_1") if _has(model, n)), None)
    if fc6_name is not None:   # SegNet has no fc layers: the file then has convs only
        fc6 = model.get_layer(fc6_name).kernel.shape
        # LargeFOV's 3x3 fc6 is decimated from fc1 (every 4th channel); a 7x7 fc6 (FCN,
        # Dilation) is fc1 itself.
        width, channels = (fc6[-1] if fc6[0] == 7 else 4 * fc6[-1]), fc6[2]
        layers["fc1"] = [he(7 * 7 * channels, width), np.zeros(width, "float32")]
        layers["fc2"] = [he(width, width), np.zeros(width, "float32")]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layers]
        for name, values in layers.items():
            group = f.create_group(name)
            weight_names = [f"{name}/{kind}:0" for kind in ("kernel", "bias")]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            for weight_name, value in zip(weight_names, values):
                group.create_dataset(weight_name, data=value)
    return layers


def _has(model, name):
    return any(layer.name == name for layer in model.layers)
