"""--mixed_precision: the Keras policy a run computes in, and `auto`, which picks it per machine.

  none            float32 everywhere.
  mixed_float16   float16 compute, float32 variables, dynamic loss scaling.
  mixed_bfloat16  bfloat16 compute, float32 variables (no loss scaling needed).
  auto            the fastest correct one for the devices the strategy runs on:
                    TPU                                    mixed_bfloat16
                    GPUs of compute capability >= 8.0      mixed_bfloat16 (bfloat16 tensor
                                                           cores, as fast as float16 there,
                                                           without loss scaling)
                    GPUs of compute capability 7.x         mixed_float16 (float16 tensor cores)
                    older GPUs                             none
                    CPU with AMX (amx_bf16)                mixed_bfloat16
                    any other CPU                          none

Why CPUs differ (BUILD_NOTES.md, "Training speed"): on a CPU with AMX, oneDNN runs bfloat16
matrix products about 3.6x faster than float32 (1,100 vs 305 GFLOP/s measured), and bfloat16
training is about 2x faster. Without AMX (AVX-512 without AVX512-BF16, or AVX2) bfloat16 and
float16 are emulated: deeplabv3_resnet50 trained 2.2x slower in bfloat16 than in float32 on an
AVX-512 CPU without AMX. Both 16-bit policies still train correctly on every CPU.
"""
import functools

POLICIES = ("none", "mixed_float16", "mixed_bfloat16")
CHOICES = ("auto",) + POLICIES


@functools.cache
def cpu_flags(path="/proc/cpuinfo"):
    """The CPU feature flags the kernel reports (Linux); empty where there is no such file."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _gpu_capabilities(tf):
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return capabilities


def resolve(requested, strategy=None):
    """(policy, reason): `requested` itself, or for "auto" the policy picked for this machine.

    Args:
      requested: one of CHOICES.
      strategy: the tf.distribute strategy the run uses (a TPU strategy means TPU cores).
    Raises:
      ValueError naming --mixed_precision when `requested` is not one of CHOICES.
    """
    if requested not in CHOICES:
        raise ValueError(f"--mixed_precision={requested!r}; allowed: {', '.join(CHOICES)}")
    if requested != "auto":
        return requested, "as requested"
    import tensorflow as tf
    if strategy is not None and type(strategy).__name__.startswith("TPU"):  # TPUStrategy(V2)
        return "mixed_bfloat16", "TPU"
    capabilities = _gpu_capabilities(tf)
    if capabilities:
        lowest = min(capabilities)
        where = f"GPU compute capability {lowest[0]}.{lowest[1]}"
        if lowest >= (8, 0):
            return "mixed_bfloat16", where
        if lowest >= (7, 0):
            return "mixed_float16", where
        return "none", where + " (no fast float16)"
    if "amx_bf16" in cpu_flags():
        return "mixed_bfloat16", "CPU with AMX"
    return "none", "CPU without AMX (16-bit arithmetic is emulated there)"


def apply(policy):
    """Sets the Keras global policy ("none" restores float32)."""
    import keras
    keras.mixed_precision.set_global_policy("float32" if policy == "none" else policy)
