"""absl flags generated from the config dataclasses (deeplab_tf.config), for the entry points.

A flag's name, default, type and help are written once, on its config field; define_group()
defines a group of them (model, data, train, eval, export) and deeplab_tf.config.from_flags
turns the parsed values back into the dataclasses. Defaults are the official research/deeplab
ones; experiments/*.flags hold the per-paper recipes.
"""
from absl import flags

from deeplab_tf.config import flag_fields
from deeplab_tf.config import parse_floats, parse_size  # noqa: F401 (their home was here)


def define_group(group, flag_values=flags.FLAGS):
    """Defines the flags of one config group (skipping any already defined, so entry points
    that share groups may each ask for them)."""
    for item in flag_fields(group):
        if item.flag in flag_values:
            continue
        default = item.to_flag(item.default)
        kwargs = {"flag_values": flag_values}
        if item.kind == "enum":
            flags.DEFINE_enum(item.flag, default, item.choices, item.help, **kwargs)
        else:
            getattr(flags, f"DEFINE_{item.kind}")(item.flag, default, item.help, **kwargs)


def define_model_flags():
    define_group("model")


def define_data_flags():
    define_group("data")


def define_train_flags():
    define_group("train")


def define_eval_flags():
    define_group("eval")


def define_export_flags():
    define_group("export")


def define_tiling_flags():
    """--tile, --tile_overlap, --tile_above_pixels: tiled inference (deeplab_tf.tiling) for
    predict and evaluate; read with tiling.from_flag_values."""
    from deeplab_tf import tiling
    if "tile" in flags.FLAGS:
        return
    flags.DEFINE_string("tile", "auto", "Tile HEIGHT,WIDTH for images above "
                        "--tile_above_pixels (auto: 513,513, or a fixed-size model's input "
                        "size; 0: always run whole images).")
    flags.DEFINE_float("tile_overlap", tiling.DEFAULT_OVERLAP, "Fraction of a tile shared with "
                       "each neighbour; the tiles' probabilities are blended there.")
    flags.DEFINE_integer("tile_above_pixels", tiling.DEFAULT_ABOVE_PIXELS, "Tile images with "
                         "more pixels than this (0: every image larger than a tile).")
