"""Exact resume: a run killed with SIGKILL mid-way and resumed ends with the same weights as an
uninterrupted run (--deterministic: op determinism, seeded input pipeline whose iterator is
in the checkpoint)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.training.conftest import tiny_flags, train_cli

STEPS = 16


def _variables(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {n: reader.get_tensor(n) for n, _ in tf.train.list_variables(prefix)
            if n.endswith("VARIABLE_VALUE")}


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted(synthetic_data, tmp_path):
    common = ["--deterministic", f"--train_steps={STEPS}", "--checkpoint_every=4",
              "--keep_checkpoints=20"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}

    def start(model_dir):
        return subprocess.Popen([sys.executable, "-m", "deeplab_tf.train",
                                 *tiny_flags(synthetic_data, model_dir, *common)],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    # The uninterrupted run and the one to be killed run side by side.
    straight, killed_dir = start(tmp_path / "straight"), tmp_path / "killed"
    proc = start(killed_dir)
    deadline = time.time() + 600
    while not (killed_dir / "ckpt-8.index").exists():   # kill after a few checkpoints
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    _, err = straight.communicate(timeout=900)
    assert straight.returncode == 0, err[-3000:]
    latest = tf.train.latest_checkpoint(str(killed_dir))
    assert latest is not None and int(latest.rsplit("-", 1)[1]) < STEPS

    resumed = train_cli(tiny_flags(synthetic_data, killed_dir, *common), timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {latest}" in resumed.stdout
    a = _variables(str(tmp_path / "straight" / f"ckpt-{STEPS}"))
    b = _variables(str(killed_dir / f"ckpt-{STEPS}"))
    assert a.keys() == b.keys() and sum(v.ndim == 4 for v in a.values()) > 10
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
