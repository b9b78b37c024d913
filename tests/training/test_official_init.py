"""--init=official:PATH|NAME.

- Whole DeepLab models: the official float TFLite file (../shared/data/official) and a model
  zoo-style checkpoint; every layer but the logits is copied when the number of classes differs.
- ImageNet classification checkpoints (synthesised from our own name map by
  tests/training/imagenet_checkpoints.py, tiny widths): the backbone scope is loaded exactly,
  the head keeps its initializer; folder, prefix, .tar.gz / .tgz and V1 files; official:NAME
  through the download cache; the bad inputs.
"""
import pathlib
import shutil
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import deeplab_tf
from deeplab_tf.config import ModelConfig
from deeplab_tf.models.builder import model_info
from deeplab_tf.training.initialization import initialize, parse_init
from deeplab_tf.weights import download
from deeplab_tf.weights.checkpoint_reader import write_checkpoint
from deeplab_tf.weights.official import OfficialWeightsError, official_tensors
from tests.conftest import shared_path
from tests.training.imagenet_checkpoints import backbone_scope, write_imagenet_checkpoint

TINY = {"width_multiplier": 0.125}
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    """make(preset, name="model.ckpt", num_logits=1001, v1=False, **overrides) -> prefix of a
    synthesised tiny ImageNet checkpoint, each written once per module (in its own folder)."""
    made = {}

    def make(preset, name="model.ckpt", num_logits=1001, v1=False, **overrides):
        overrides = {**TINY, **overrides}
        key = (preset, name, num_logits, v1, tuple(sorted(overrides.items())))
        if key not in made:
            made[key] = write_imagenet_checkpoint(
                preset, tmp_path_factory.mktemp("imagenet") / name, num_logits, v1=v1,
                **overrides)
        return made[key]
    return make


def _build(preset, seed=7, num_classes=NUM_CLASSES, **overrides):
    keras.utils.set_random_seed(seed)
    return deeplab_tf.build_model(preset, num_classes=num_classes, **{**TINY, **overrides})


def _init(model, preset, spec, lines=None, **overrides):
    overrides = {**TINY, **overrides}
    info = model_info(preset, num_classes=NUM_CLASSES, **overrides)
    config = ModelConfig(preset=preset, num_classes=NUM_CLASSES,
                         overrides=tuple(overrides.items()))
    log = (lambda s: None) if lines is None else lines.append
    return initialize(model, spec, info=info, model_config=config, log=log)


def _file(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def _assert_backbone_from_file_head_untouched(model, before, tensors, scope):
    after = official_tensors(model)
    backbone = [n for n in after if n.startswith(scope + "/")]
    head = [n for n in after if not n.startswith(scope + "/")]
    assert backbone and head
    for name in backbone:
        np.testing.assert_array_equal(after[name], tensors[name], err_msg=name)
    for name in head:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


# ---- whole DeepLab models ---------------------------------------------------------------------

def test_official_tflite_initialises_all_but_the_logits():
    path = shared_path("official", "deeplabv3_257_mv_gpu.tflite")
    preset = "deeplabv3_mobilenetv2_dm05"
    model = deeplab_tf.build_model(preset, num_classes=5)
    before = model.get_layer("logits.semantic").get_weights()[0].copy()
    info = model_info(preset, num_classes=5)
    copied = initialize(model, f"official:{path}", info=info,
                        model_config=ModelConfig(preset=preset, num_classes=5),
                        log=lambda s: None)
    weighted = [layer.name for layer in model._flatten_layers(include_self=False)
                if layer.weights]
    assert set(weighted) - set(copied) == {"logits.semantic"}
    np.testing.assert_array_equal(model.get_layer("logits.semantic").get_weights()[0], before)


def test_deeplab_checkpoint_with_other_classes_still_copies_all_but_the_logits(tmp_path):
    preset = "deeplabv3_mobilenetv2"
    source = _build(preset, seed=1, num_classes=5)
    tensors = official_tensors(source)
    tensors["global_step"] = np.array(30000, np.int64)
    prefix = write_checkpoint(tensors, tmp_path / "zoo" / "model.ckpt-30000")
    model = _build(preset, seed=2)
    before = official_tensors(model)
    copied = _init(model, preset, f"official:{tmp_path / 'zoo'}")
    after = official_tensors(model)
    assert "logits.semantic" not in copied and "aspp0" in copied
    for name, value in after.items():
        expected = before[name] if name.startswith("logits/") else tensors[name]
        np.testing.assert_array_equal(value, expected, err_msg=name)
    assert prefix.endswith("model.ckpt-30000")


# ---- ImageNet classification checkpoints ------------------------------------------------------

@pytest.mark.parametrize("preset, num_logits, v1", [
    ("deeplabv3_resnet101", 1001, False),        # resnet_v1_101_beta (model_zoo.md)
    ("deeplabv2_resnet101_aspp_l", 1000, True),  # slim's resnet_v1_101: 7x7 stem, V1 file
    ("deeplabv3plus_xception65", 1001, False),
    ("deeplabv3_mobilenetv2", 1001, False),
])
def test_imagenet_checkpoint_initialises_exactly_the_backbone(imagenet_file, preset, num_logits,
                                                             v1):
    prefix = imagenet_file(preset, "resnet_v1_101.ckpt" if v1 else "model.ckpt", num_logits, v1)
    scope = backbone_scope(preset, **TINY)
    model = _build(preset)
    before = official_tensors(model)
    lines = []
    loaded = _init(model, preset, f"official:{prefix}", lines)
    _assert_backbone_from_file_head_untouched(model, before, _file(prefix), scope)
    assert loaded and all(n.startswith(scope + ".") for n in loaded)
    assert len(lines) == 2
    assert lines[0].startswith(f"initialised the backbone {scope} ({len(loaded)} layers)")
    assert "3 optimizer slot / EMA / global_step entries" in lines[0]
    classifier = "MobilenetV2/Conv_1, MobilenetV2/Logits" if scope == "MobilenetV2" \
        else f"{scope}/logits (2 tensors)"
    assert classifier in lines[0]
    assert lines[1].startswith("kept at their initializer: ") and "logits" in lines[1]


def _pack(archive, folder, arcname=None):
    with tarfile.open(archive, "w:gz") as tar:
        if arcname is None:  # the files at the top level of the archive
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)
        else:
            tar.add(folder, arcname=arcname)
    return archive


def test_folder_prefix_and_tarballs_all_work(tmp_path, imagenet_file):
    preset = "deeplabv3_mobilenetv2"
    # DeepLab's packing (<folder>/model.ckpt.*) and MobileNetV2's (.ckpt.* at the top level).
    prefix = imagenet_file(preset)
    folder = pathlib.Path(prefix).parent
    flat = pathlib.Path(imagenet_file(preset, "mobilenet_v2_1.0_224.ckpt")).parent
    (flat / "mobilenet_v2_1.0_224_info.txt").write_text("not a checkpoint\n")
    tensors = _file(prefix)
    np.testing.assert_array_equal(_file(flat / "mobilenet_v2_1.0_224.ckpt")["global_step"],
                                  tensors["global_step"])  # the same seed: the same values
    specs = [prefix, str(folder), prefix + ".index",
             str(_pack(tmp_path / "zoo_2018_05_04.tar.gz", folder, "zoo")),
             str(_pack(tmp_path / "mobilenet_v2_1.0_224.tgz", flat))]
    model = _build(preset)
    initial = model.get_weights()
    before = official_tensors(model)
    for spec in specs:
        model.set_weights(initial)  # back to the fresh model's values (cheaper than a build)
        assert _init(model, preset, f"official:{spec}")
        _assert_backbone_from_file_head_untouched(model, before, tensors, backbone_scope(preset))
    assert (tmp_path / "mobilenet_v2_1.0_224.extracted" / "mobilenet_v2_1.0_224.ckpt.index") \
        .exists()


def test_slim_v1_file_in_a_tarball(tmp_path, imagenet_file):
    """slim's resnet_v1_101_2016_08_28.tar.gz: one V1 file resnet_v1_101.ckpt at the top."""
    preset = "deeplabv2_resnet101_aspp_l"
    path = imagenet_file(preset, "resnet_v1_101.ckpt", 1000, v1=True)
    assert not pathlib.Path(path + ".index").exists()
    archive = _pack(tmp_path / "resnet_v1_101_2016_08_28.tar.gz", pathlib.Path(path).parent)
    model = _build(preset)
    before = official_tensors(model)
    _init(model, preset, f"official:{archive}")
    _assert_backbone_from_file_head_untouched(model, before, _file(path), "resnet_v1_101")


@pytest.fixture
def mobilenet_tgz(tmp_path, imagenet_file):
    """(a synthesised tiny mobilenet_v2_1.0_224.tgz packed like the real one, in a mirror
    folder; its prefix)."""
    prefix = imagenet_file("deeplabv3_mobilenetv2", "mobilenet_v2_1.0_224.ckpt")
    folder = tmp_path / "mirror"
    folder.mkdir()
    return _pack(folder / "mobilenet_v2_1.0_224.tgz", pathlib.Path(prefix).parent), prefix


def test_official_name_is_fetched_from_a_mirror_into_the_cache(tmp_path, mobilenet_tgz,
                                                               monkeypatch):
    archive, prefix = mobilenet_tgz
    monkeypatch.setenv("DEEPLAB_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPLAB_TF_MIRROR", download.file_url(archive.parent))
    spec = "official:mobilenet_v2_1.0_224"
    assert parse_init(spec) == ("official", "mobilenet_v2_1.0_224")
    preset = "deeplabv3plus_mobilenetv2"
    model = _build(preset)
    before = official_tensors(model)
    lines = []
    _init(model, preset, spec, lines)
    assert (tmp_path / "cache" / "mobilenet_v2_1.0_224.tgz").exists()
    tensors = _file(prefix)
    _assert_backbone_from_file_head_untouched(model, before, tensors, "MobilenetV2")
    assert f"ImageNet checkpoint {spec};" in lines[0] and "decoder" in lines[1]


def test_official_name_from_a_filled_cache_needs_no_mirror(tmp_path, mobilenet_tgz,
                                                           monkeypatch):
    archive, _ = mobilenet_tgz
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.move(archive, cache / archive.name)
    monkeypatch.setenv("DEEPLAB_TF_CACHE", str(cache))
    monkeypatch.setenv("DEEPLAB_TF_MIRROR", download.file_url(tmp_path / "nowhere"))
    model = _build("deeplabv3_mobilenetv2")
    # A bare "official" names the backbone's own checkpoint (BackboneSpec.imagenet_checkpoint).
    assert parse_init("official") == ("official", "")
    lines = []
    assert _init(model, "deeplabv3_mobilenetv2", "official", lines)
    assert "official ImageNet checkpoint, mobilenet_v2_1.0_224" in lines[0], lines
    # A backbone that records none (MobileNetV2 dm0.5) is refused by name.
    with pytest.raises(OfficialWeightsError, match="mobilenetv2_dm05 .* has no official "
                       "ImageNet checkpoint; pass official:NAME"):
        _init(_build("deeplabv3_mobilenetv2_dm05"), "deeplabv3_mobilenetv2_dm05", "official")


# ---- bad inputs -------------------------------------------------------------------------------

def _expect_error(preset, spec, pattern, **overrides):
    model = _build(preset, **overrides)
    before = official_tensors(model)
    with pytest.raises(OfficialWeightsError, match=pattern) as error:
        _init(model, preset, spec, **overrides)
    assert "\n" not in str(error.value)
    after = official_tensors(model)  # all or nothing: nothing was assigned
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    return str(error.value)


def test_resnet50_checkpoint_for_a_resnet101_model(imagenet_file):
    prefix = imagenet_file("deeplabv3_resnet50")
    message = _expect_error(
        "deeplabv3_resnet101", f"official:{prefix}",
        r"^--init=official:.*model\.ckpt: .*model\.ckpt is an ImageNet checkpoint of backbone "
        r"scope 'resnet_v1_50' \(backbone resnet50, resnet50_beta\), but model "
        r"'deeplabv3_resnet101' expects the scope 'resnet_v1_101': the file's tensors are under "
        r"\(8\): resnet_v1_50/block1, resnet_v1_50/block2, resnet_v1_50/block3, "
        r"resnet_v1_50/block4, resnet_v1_50/conv1_1, resnet_v1_50/conv1_2, resnet_v1_50/conv1_3, "
        r"resnet_v1_50/logits \((\d+) tensors\)$")
    assert message.endswith(f"({len(_file(prefix)) - 3} tensors)")  # not slots, EMA, step


def test_xception_checkpoint_for_a_mobilenet_model(imagenet_file):
    prefix = imagenet_file("deeplabv3plus_xception65")
    _expect_error("deeplabv3_mobilenetv2", f"official:{prefix}",
                  r"ImageNet checkpoint of backbone scope 'xception_65' \(backbone xception65\), "
                  r"but model 'deeplabv3_mobilenetv2' expects the scope 'MobilenetV2': "
                  r"the file's tensors are under \(4\): xception_65/entry_flow, "
                  r"xception_65/exit_flow, xception_65/logits, xception_65/middle_flow \(\d+ ")


def test_original_resnet_stem_for_the_beta_backbone_lists_and_explains(imagenet_file):
    prefix = imagenet_file("deeplabv2_resnet101_aspp_l", "resnet_v1_101.ckpt", 1000, v1=True)
    message = _expect_error("deeplabv3_resnet101", f"official:{prefix}",
                            r"does not fit model 'deeplabv3_resnet101': missing from the file "
                            r"\(15\): resnet_v1_101/conv1_1/BatchNorm/beta \[8\]")
    assert "extra in the file (5): resnet_v1_101/conv1/BatchNorm/beta" in message
    assert "logits" not in message.split("(the file")[0]  # the classifier is not "extra"
    assert message.endswith("(the file has the original 7x7 stem (resnet_v1_101/conv1, slim's "
                            "ImageNet checkpoint), the model the beta stem (resnet_v1_101/"
                            "conv1_1..conv1_3): use the resnet_v1_101_beta checkpoint, or the "
                            "non-beta backbone)")


def test_wider_mobilenet_checkpoint_is_mis_shaped(imagenet_file):
    prefix = imagenet_file("deeplabv3_mobilenetv2", width_multiplier=0.25)
    _expect_error("deeplabv3_mobilenetv2", f"official:{prefix}",
                  r"does not fit model 'deeplabv3_mobilenetv2': mis-shaped \(\d+\): "
                  r"MobilenetV2/Conv/BatchNorm/beta: file \[8\], model \[4\]")


def test_a_missing_backbone_tensor_is_listed(tmp_path):
    from tests.training.imagenet_checkpoints import imagenet_tensors
    tensors = imagenet_tensors("deeplabv3_mobilenetv2", **TINY)
    del tensors["MobilenetV2/expanded_conv_5/project/weights"]
    prefix = write_checkpoint(tensors, tmp_path / "model.ckpt")
    _expect_error("deeplabv3_mobilenetv2", f"official:{prefix}",
                  r"missing from the file \(1\): MobilenetV2/expanded_conv_5/project/weights "
                  r"\[1, 1, 24, 4\] \(layer MobilenetV2\.expanded_conv_5\.project\)$")


def test_checkpoint_without_a_backbone_scope(tmp_path):
    prefix = write_checkpoint({"InceptionV3/Conv2d_1a_3x3/weights": np.ones((3, 3, 3, 4)),
                               "global_step": np.array(5, np.int64)}, tmp_path / "model.ckpt")
    _expect_error("deeplabv3_mobilenetv2", f"official:{prefix}",
                  r"^--init=official:.*model\.ckpt holds no official backbone scope \(its "
                  r"top-level scopes: InceptionV3\); expected an ImageNet checkpoint of one of "
                  r"\['MobilenetV2', 'resnet_v1_101', 'resnet_v1_50', 'xception_65'\] \(model "
                  r"'deeplabv3_mobilenetv2': 'MobilenetV2'\) or a DeepLab checkpoint with the "
                  r"head scopes \['image_pooling', ")


def test_unknown_official_name_lists_the_known_names():
    with pytest.raises(ValueError, match=r"^--init='official:resnet_v9': 'resnet_v9' is "
                                         r"neither an existing path nor a known official "
                                         r"name; known names: .*mobilenet_v2_1\.0_224, .*"
                                         r"resnet_v1_101, resnet_v1_101_beta, "):
        parse_init("official:resnet_v9")
    with pytest.raises(ValueError, match="known names"):  # initialize checks it first
        _init(None, "deeplabv3_mobilenetv2", "official:resnet_v9")
    with pytest.raises(FileNotFoundError, match=r"no/such/model\.ckpt does not exist"):
        parse_init("official:no/such/model.ckpt")


def test_truncated_tarball_is_a_clear_error_and_leaves_no_half_folder(tmp_path, imagenet_file):
    good = _pack(tmp_path / "good.tar.gz", pathlib.Path(imagenet_file("deeplabv3_mobilenetv2"))
                 .parent)
    broken = tmp_path / "mobilenet_v2_1.0_224.tgz"
    broken.write_bytes(good.read_bytes()[:2000])
    _expect_error("deeplabv3_mobilenetv2", f"official:{broken}",
                  r"archive .*mobilenet_v2_1\.0_224\.tgz is not readable \(EOFError")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz",
                                                         "mobilenet_v2_1.0_224.tgz"]
