"""show: the grid of augmented examples with labels overlaid."""
import numpy as np
from PIL import Image

from deeplab_tf.config import DataConfig
from deeplab_tf.data import show
from deeplab_tf.data.datasets import get_dataset


def test_grid_overlays_labels_in_the_palette(tmp_path, prepared_synthetic):
    config = DataConfig(dataset="synthetic", data_dir=prepared_synthetic, crop_size=(33, 33),
                        deterministic=True)
    path = show.show(config, "train", 6, str(tmp_path / "grid.png"))
    grid = np.asarray(Image.open(path))
    # 4 columns x 2 rows of [image | overlay] cells of 33 px plus gaps and captions.
    assert grid.shape == (2 * (33 + 16), 4 * (2 * 33 + 6), 3)
    palette = get_dataset("synthetic").label_palette()
    blended = show.overlay(np.zeros((1, 2, 3)), np.array([[2, 255]]), palette)
    np.testing.assert_array_equal(blended[0, 0], np.asarray(palette[2]) // 2)
    np.testing.assert_array_equal(blended[0, 1], np.asarray((224, 224, 192)) // 2)


def test_cli_bad_flags_are_one_line_errors(tmp_path):
    import os
    import subprocess
    import sys
    from tests.conftest import REPO
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for flags, message in ((["--dataset=voc2012"], "--data_dir is required"),
                           (["--crop_size=33"], "--crop_size=33; expected HEIGHT,WIDTH"),
                           (["--num=0"], "--num=0 must be >= 1")):
        result = subprocess.run([sys.executable, "-m", "deeplab_tf.data.show", *flags,
                                 f"--output={tmp_path / 'g.png'}"], capture_output=True,
                                text=True, env=env, timeout=120)
        assert result.returncode != 0
        assert message in result.stderr.strip().splitlines()[-1], result.stderr
