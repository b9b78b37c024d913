"""tf.distribute: two replicas equal one replica; two worker processes stay in sync.

Both run in subprocesses (logical devices and TF_CONFIG must be set before TensorFlow starts).
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.training.conftest import tiny_flags

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_two_replicas_give_the_same_loss_and_update_as_one(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "tests/training/_replicas.py"),
                           str(tmp_path)], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULTS "):])
    assert result["replicas"] == [1, 2]
    one, two = result["loss"]
    assert two == pytest.approx(one, rel=1e-5)
    # Synchronized BatchNorm + loss / replicas + SUM all-reduce: the same update up to float
    # rounding (sync BN computes the variance as E[x^2] - E[x]^2), well under 1% of the update.
    assert result["max_update"] > 1e-3
    assert result["max_weight_diff"] < 1e-2 * result["max_update"]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _model_weights(prefix):
    reader = tf.train.load_checkpoint(prefix)
    # Every variable: model weights (trainable ones sit under the optimizer's path in the
    # object graph), BatchNorm statistics, momentum slots, the iteration count.
    names = [n for n, _ in tf.train.list_variables(prefix) if n.endswith("VARIABLE_VALUE")]
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_two_worker_processes_end_with_the_same_weights(synthetic_data, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    model_dir = tmp_path / "run"
    args = tiny_flags(synthetic_data, model_dir, "--strategy=multi_worker_mirrored",
                      "--train_steps=3", "--checkpoint_every=3")
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster,
                                               "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "deeplab_tf.train", *args],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, out[-2000:] + err[-3000:]
    assert "2 replica(s)" in outputs[0][0]
    chief = _model_weights(str(model_dir / "ckpt-3"))
    worker = _model_weights(str(model_dir / "_worker_tmp_worker_1" / "ckpt-3"))
    assert chief.keys() == worker.keys() and len(chief) > 10
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    assert sum(v.ndim == 4 for v in chief.values()) > 10   # the conv kernels are there
    # Both workers logged three steps of training.
    for out, _ in outputs:
        assert "step 3/3" in out
