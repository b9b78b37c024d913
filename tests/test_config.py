"""deeplab_tf.config: the configs are the run, and the flags are generated from them.

from_flagfile reads every recipe in Python without touching the global absl FLAGS, overrides
are named like the flags, to_flagfile writes configs back as a flagfile that reads to the same
configs, and each flag's default is its field's default (written once)."""
import dataclasses

import pytest
from absl import flags as absl_flags

from deeplab_tf import config
from tests.conftest import REPO

RECIPES = sorted((REPO / "experiments").glob("*.flags"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_reads_in_python_and_round_trips(recipe, tmp_path):
    configs = config.from_flagfile(str(recipe))
    assert set(configs) == {"data", "model", "train", "eval", "export"}
    # The flagfile's own values arrive (spot checks of each kind of flag).
    text = recipe.read_text()
    preset = next(line.split("=", 1)[1] for line in text.splitlines()
                  if line.startswith("--preset="))
    assert configs["model"].preset == preset
    steps = next(line.split("=", 1)[1] for line in text.splitlines()
                 if line.startswith("--train_steps="))
    assert configs["train"].train_steps == int(steps)
    written = tmp_path / "again.flags"
    written.write_text(config.to_flagfile(configs))
    assert config.from_flagfile(str(written)) == configs


def test_overrides_are_named_like_the_flags_and_parsed_like_them():
    configs = config.from_flagfile(
        str(REPO / "experiments/quickstart.flags"), train_steps=20, eval_every=0,
        export_formats=[], data_dir="data", model_dir="run", crop_size="65,65",
        eval_scales=(0.5, 1.0), flip=False, model_overrides=["width_multiplier=0.25"])
    data, train = configs["data"], configs["train"]
    assert (train.train_steps, train.eval_every, train.model_dir) == (20, 0, "run")
    assert configs["export"].formats == ()
    assert (data.data_dir, data.crop_size, data.flip) == ("data", (65, 65), False)
    assert configs["eval"].eval_scales == (0.5, 1.0)
    assert configs["model"].overrides == (("width_multiplier", 0.25),)
    # Flags the override does not name keep the flagfile's values.
    assert train.base_learning_rate == 0.05 and data.batch_size == 16


def test_bad_flagfiles_and_overrides_are_named():
    quickstart = str(REPO / "experiments/quickstart.flags")
    with pytest.raises(ValueError, match="unknown flag 'train_stepz'"):
        config.from_flagfile(quickstart, train_stepz=20)
    with pytest.raises(ValueError, match="train_steps='many'"):
        config.from_flagfile(quickstart, train_steps="many")
    with pytest.raises(ValueError, match="mixed_precision='fp8'"):
        config.from_flagfile(quickstart, mixed_precision="fp8")
    with pytest.raises(ValueError, match=r"--crop_size=97,x; expected HEIGHT,WIDTH"):
        config.from_flagfile(quickstart, crop_size="97,x")
    with pytest.raises(FileNotFoundError, match="no_such.flags"):
        config.from_flagfile("no_such.flags")


def test_bad_line_in_a_flagfile_names_the_file(tmp_path):
    bad = tmp_path / "bad.flags"
    bad.write_text("--preset=deeplabv3_mobilenetv2\n--no_such_flag=1\n")
    with pytest.raises(ValueError, match=r"bad.flags.*no_such_flag"):
        config.from_flagfile(str(bad))


def test_each_flag_default_is_its_field_default():
    """No flagfile: the configs are the dataclasses' own defaults, for every config."""
    flag_values = config.define_flags()
    flag_values(["deeplab_tf"])
    configs = config.from_flags(flag_values)
    for key, (cls, _) in config.CONFIGS.items():
        assert configs[key] == cls(), key
    # And every flag of the train command comes from a field (none is defined twice).
    names = [item.flag for item in config.flag_fields()]
    assert len(names) == len(set(names))
    assert set(names) == set(flag_values) - set(absl_flags.FlagValues()) - {"flagfile", "undefok"}


def test_fields_without_a_flag_are_filled_by_the_code():
    flagged = {(item.key, item.field) for item in config.flag_fields()}
    for key, (cls, _) in config.CONFIGS.items():
        for field in dataclasses.fields(cls):
            if (key, field.name) not in flagged:
                assert field.name in {"mean_pixel", "ignore_label", "output_stride",
                                      "deterministic", "seed", "tfds_manual_dir"}, field.name


def test_importing_train_as_a_library_defines_no_global_flags():
    """A user's script with its own --seed flag can import deeplab_tf.train.run."""
    import subprocess
    import sys
    code = ("import sys; from absl import flags; flags.DEFINE_integer('seed', 1, 'mine'); "
            "import deeplab_tf.train, deeplab_tf.config; "
            "deeplab_tf.config.from_flagfile('experiments/quickstart.flags'); "
            "print(sorted(flags.FLAGS), 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert "seed" in out and "preset" not in out and "train_steps" not in out, out
    assert out.strip().endswith("False"), out   # and reading a recipe imports no TensorFlow
