"""tf.distribute strategy selection by name.

  default                 one device (tf.distribute.get_strategy()).
  mirrored                all local GPUs (or the logical CPU devices made by
                          split_cpu(n), which is how the tests run two replicas on a CPU).
  multi_worker_mirrored   one replica set per worker; the cluster comes from TF_CONFIG.
  tpu                     TPUClusterResolver(tpu=...).
"""
import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")


def check_strategy_name(name):
    if name not in STRATEGIES:
        raise ValueError(f"--strategy={name!r} is unknown; expected one of {STRATEGIES}")


def split_cpu(num_devices):
    """Splits the CPU into num_devices logical devices (before TensorFlow initialises them)."""
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == num_devices:
        return
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)


def make_strategy(name, tpu=""):
    """Returns the tf.distribute.Strategy called `name` (see the module docstring)."""
    check_strategy_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("--strategy=multi_worker_mirrored needs the TF_CONFIG environment "
                             "variable (cluster and task), which is not set")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as err:
            raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """True on the worker that writes checkpoints, summaries and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0
                                                         and "chief" not in
                                                         resolver.cluster_spec().as_dict())


def worker_dir(model_dir, strategy):
    """Where this worker saves: model_dir on the chief, a private temp folder on the others
    (every worker must take part in saving under MultiWorkerMirroredStrategy)."""
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return os.path.join(model_dir, f"_worker_tmp_{resolver.task_type}_{resolver.task_id}")


def num_workers(strategy):
    """Number of worker processes (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(job, [])) for job in ("chief", "worker")) or 1


def input_context(strategy):
    """The tf.distribute.InputContext of this worker's input pipeline."""
    workers = num_workers(strategy)
    worker_id = 0
    if workers > 1:
        resolver = strategy.cluster_resolver
        spec = resolver.cluster_spec().as_dict()
        worker_id = resolver.task_id + (len(spec.get("chief", []))
                                        if resolver.task_type == "worker" else 0)
    return tf.distribute.InputContext(num_input_pipelines=workers, input_pipeline_id=worker_id,
                                      num_replicas_in_sync=strategy.num_replicas_in_sync)
