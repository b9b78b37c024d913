"""The compiled train step: forward (optionally multi-scale), loss, gradients, one update.

Run under a tf.distribute strategy; one call consumes one global batch from a distributed
iterator and returns the global loss (sum over replicas of the per-replica scaled losses).
"""
import tensorflow as tf

from deeplab_tf.data.datasets import IGNORE_LABEL
from deeplab_tf.geometry import scale_dimension
from deeplab_tf.models.layers import resize_bilinear
from deeplab_tf.training import losses as losses_lib
from deeplab_tf.training.optimization import decayed_kernels, gradient_multipliers
from deeplab_tf.training.strategy import num_workers


def forward(model, images, scales, training):
    """Logits of every input scale, plus their max fusion when there are several (DeepLab v2
    MSC, Sec. 3.1: scales 1, 0.75, 0.5 share weights; the fused output is the element-wise
    max of the outputs resized to the full size). Returns a list of [B, h_s, w_s, C]."""
    if tuple(scales) == (1.0,):
        return [model(images, training=training)]
    size = tf.shape(images)[1:3]
    outputs = []
    for scale in scales:
        x = images
        if scale != 1.0:
            target = scale_dimension(size, scale)
            x = resize_bilinear(images, target)
        outputs.append(tf.cast(model(x, training=training), tf.float32))
    full = [resize_bilinear(o, size) for o in outputs]
    return outputs + [tf.reduce_max(tf.stack(full), axis=0)]


def make_train_step(model, optimizer, config, strategy, *, num_classes, logits_layers=(),
                    ignore_label=IGNORE_LABEL):
    """Returns train_step(iterator) -> dict(loss=, regularization=) (global, float32).

    logits_layers: names of the layers config.last_layer_gradient_multiplier applies to
    (model_info(...)["logits_layers"]); required when that multiplier is not 1.

    `iterator` yields this worker's batch (global batch / number of workers); local replica r
    receives and trains on slice r of it.

    Loss convention: per micro-batch losses.training_loss (every output scale, weighted and
    normalised there: by the replica batch's valid-pixel count, or with hard-pixel mining the
    top-k means over accumulation_steps; losses.batch_normalizer), plus the L2 term once, all
    divided by the number of replicas; the optimizer SUM-all-reduces the gradients.
    """
    variables = model.trainable_variables
    kernel_ids = {id(k) for k in decayed_kernels(model)}
    kernels = [v for v in variables if id(v) in kernel_ids]
    multipliers = gradient_multipliers(model, logits_layers,
                                       config.last_layer_gradient_multiplier)
    accumulation = config.accumulation_steps
    class_weights = config.class_weights
    use_top_k = config.top_k_percent_pixels < 1.0
    float16 = config.mixed_precision == "mixed_float16"
    replicas = float(strategy.num_replicas_in_sync)

    def micro_gradients(images, labels, normalizer, first, top_k):
        with tf.GradientTape() as tape:
            data = losses_lib.training_loss(
                forward(model, images, config.train_scales, training=True), labels,
                num_classes=num_classes, normalizer=normalizer, top_k=top_k,
                ignore_label=ignore_label, class_weights=class_weights)
            reg = losses_lib.l2_weight_decay(kernels, config.weight_decay)
            loss = (data + first * reg) / replicas
            scaled = optimizer.scale_loss(loss) if float16 else loss
        grads = tape.gradient(scaled, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        return loss, first * reg / replicas, grads

    compute = micro_gradients
    if config.xla:
        # Only the forward/backward is compiled: the optimizer update does a cross-replica
        # merge_call, which XLA cannot hold.
        compute = tf.function(micro_gradients, jit_compile=True)

    local_replicas = max(strategy.num_replicas_in_sync // num_workers(strategy), 1)

    def split(batch):
        """The worker batch as per-replica values: local replica r gets slice r, and only that
        slice is copied to its device."""
        if local_replicas == 1:
            return batch

        def value_fn(context):
            index = context.replica_id_in_sync_group % local_replicas
            per = tf.shape(batch["image"])[0] // local_replicas
            return {k: v[index * per:(index + 1) * per] for k, v in batch.items()}

        return strategy.experimental_distribute_values_from_function(value_fn)

    def replica_step(batch):
        images = tf.cast(batch["image"], tf.float32)
        labels = tf.cast(batch["label"], tf.int32)
        top_k = (losses_lib.top_k_fraction(optimizer.iterations, config.top_k_percent_pixels,
                                           config.hard_example_mining_step)
                 if use_top_k else 1.0)
        normalizer = losses_lib.batch_normalizer(
            labels, hard_pixel_mining=use_top_k, accumulation_steps=accumulation,
            ignore_label=ignore_label, class_weights=class_weights)
        if accumulation == 1:
            loss, reg, grads = compute(images, labels, normalizer, 1.0, top_k)
        else:
            micro = tf.shape(images)[0] // accumulation
            loss, reg = tf.constant(0.0), tf.constant(0.0)
            grads = [tf.zeros_like(v) for v in variables]
            for i in tf.range(accumulation):
                sl = slice(i * micro, (i + 1) * micro)
                first = tf.cast(tf.equal(i, 0), tf.float32)
                l_i, r_i, g_i = compute(images[sl], labels[sl], normalizer, first, top_k)
                loss, reg = loss + l_i, reg + r_i
                grads = [a + g for a, g in zip(grads, g_i)]
        if multipliers:
            grads = [g * multipliers.get(id(v), 1.0) for g, v in zip(grads, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        return {"loss": loss, "regularization": reg}

    @tf.function
    def train_step(iterator):
        # The worker batch comes from one plain (checkpointable) iterator and is split here
        # into one slice per local replica: tf.distribute's own distributed iterators cannot
        # be saved in a checkpoint, and exact resume needs the input position.
        per_replica = strategy.run(replica_step, args=(split(next(iterator)),))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    return train_step

