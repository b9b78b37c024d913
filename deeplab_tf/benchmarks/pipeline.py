"""Input pipeline throughput (images/s) with the official training augmentation
(`python -m deeplab_tf.benchmark --what=pipeline`; from Python: pipeline_throughput()).

Measures build_dataset(..., training=True) end to end (read, decode, random scale, pad, crop,
flip, batch) on VOC-sized images (500x375 JPEGs). With voc_dir, the real VOC sample images
are repeated to num_images records; otherwise synthetic 500x375 scenes are used. Reports the
median of `runs` timed runs.
"""
import os
import statistics
import tempfile
import time

_VOC_SIZE = (375, 500)   # the usual PASCAL VOC image size (height, width)


def _make_records(work_dir, num_images, voc_dir=None):
    """A prepared folder with `num_images` VOC-sized training records; returns its path."""
    import tensorflow as tf
    from deeplab_tf.data import prepare, records, synthetic
    raw = os.path.join(work_dir, "raw")
    if voc_dir:
        prepared = os.path.join(work_dir, "voc")
        prepare.prepare("voc2012", voc_dir, prepared, splits=["train", "val"], progress=False)
        source = [r.numpy() for s in ("train", "val")
                  for r in tf.data.TFRecordDataset(records.split_files(prepared, s))]
        out = os.path.join(work_dir, "replicated")
        os.makedirs(out, exist_ok=True)
        names = [records.shard_name("train", i, 4) for i in range(4)]
        writers = [tf.io.TFRecordWriter(os.path.join(out, n)) for n in names]
        for i in range(num_images):
            writers[i % 4].write(source[i % len(source)])
        for w in writers:
            w.close()
        import json
        with open(os.path.join(out, records.INFO_FILE), "w") as f:
            json.dump({"dataset": "voc2012", "splits": {"train": {
                "num_examples": num_images, "files": names, "skipped": []}}}, f)
        return out, "voc2012"
    synthetic.write_synthetic(os.path.join(raw, "synthetic"), num_images, 1, _VOC_SIZE)
    out = os.path.join(work_dir, "synthetic")
    prepare.prepare("synthetic", raw, out, splits=["train"], num_shards=4, progress=False)
    return out, "synthetic"


def pipeline_throughput(data_dir=None, dataset="voc2012", voc_dir=None, num_images=256,
                        crop_size=(513, 513), batch_size=8, num_batches=50, warmup_batches=10,
                        runs=5):
    """Training-pipeline images/s: {"median", "runs", "crop_size", "batch_size", "source"}.

    data_dir: a prepared TFRecord folder (its "train" split); None: records are made in a
    temporary folder from voc_dir's images (or synthetic 500x375 scenes when voc_dir is None).
    """
    from deeplab_tf.config import DataConfig
    from deeplab_tf.data.pipeline import build_dataset
    source = data_dir or voc_dir or "synthetic 500x375 scenes"
    with tempfile.TemporaryDirectory() as work_dir:
        if data_dir is None:
            data_dir, dataset = _make_records(work_dir, num_images, voc_dir)
        config = DataConfig(dataset=dataset, data_dir=data_dir, batch_size=batch_size,
                            crop_size=tuple(crop_size))
        iterator = iter(build_dataset(config, "train", training=True))
        for _ in range(warmup_batches):
            next(iterator)
        rates, cpu_per_image = [], []
        for _ in range(runs):
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(num_batches):
                next(iterator)["image"].numpy()
            images = num_batches * batch_size
            rates.append(images / (time.perf_counter() - start))
            cpu_per_image.append((time.process_time() - cpu_start) / images)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu_ms = 1000 * statistics.median(cpu_per_image)
    # On a shared machine wall-clock rates depend on the other jobs; CPU time per image does
    # much less, and cpus / CPU time is the rate with the cores to ourselves (if it scales).
    return {"median": statistics.median(rates), "runs": rates, "crop_size": list(crop_size),
            "batch_size": batch_size, "cpus": cpus, "cpu_ms_per_image": cpu_ms,
            "cpu_bound_images_per_second": 1000 * cpus / cpu_ms,
            "source": source}

