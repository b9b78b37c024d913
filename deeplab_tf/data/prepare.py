r"""Converts a raw dataset (folders or the official archives) into sharded TFRecords.

  python -m deeplab_tf.data.prepare --dataset=voc2012 --data_dir=RAW --output_dir=OUT
  python -m deeplab_tf.data.prepare --dataset=PATH/dataset.json --output_dir=OUT

RAW holds the official layout (datasets.py), or the official archives (.tar/.tgz/.zip), or is
an archive itself; archives are extracted under OUT/.raw only (members that would escape are an
error). Every example of every split is decoded and checked first; any problem (image without
label, size mismatch, label values outside the classes and 255, corrupt file) stops the run
naming each offending file before anything is written, unless --skip_bad_examples (skipped and
counted). Shards are written to temporary names and renamed only when all are complete, so a
failed run leaves a previous output intact. The output bytes depend only on the input, so
re-running is idempotent. INFO_FILE also keeps each split's label statistics
(label_stats.py: pixels per class), from which training computes --class_weights.
"""
if __name__ == "__main__":   # before TensorFlow is imported: its C++ log lines
    from deeplab_tf.quiet import quiet
    quiet()
import concurrent.futures
import json
import math
import os
import sys

from absl import app, flags
from tqdm import tqdm

from deeplab_tf.data import archive, label_stats, sources
from deeplab_tf.data.datasets import DATASETS, get_dataset, is_descriptor
from deeplab_tf.data.raw_examples import BadExample, check_example

EXAMPLES_PER_SHARD = 512   # ~50 MB shards for VOC JPEGs; several shards per replica


class PrepareError(ValueError):
    """Bad input to prepare; the message names every offending file."""


def _search_roots(info, data_dir, output_dir, splits, limits):
    """Folders to search for the layout; extracts archives (into OUT/.raw) only when needed."""
    if info.root is not None:   # a dataset.json: the raw data is where its lists say
        if data_dir:
            raise PrepareError(f"--data_dir={data_dir} is not used with a dataset.json: its "
                               f"lists are read relative to {info.root}; drop --data_dir")
        for split in splits:
            sources.find_examples(info, [], split)
        return []
    if not data_dir:
        raise PrepareError(f"--data_dir is required for --dataset={info.name} (the folder "
                           f"holding {info.layout})")
    if not os.path.exists(data_dir):
        raise PrepareError(f"--data_dir={data_dir} does not exist")
    if archive.is_archive(data_dir):
        archives = [data_dir]
    else:
        try:
            for split in splits:
                sources.find_examples(info, [data_dir], split)
            return [data_dir]
        except sources.LayoutError:
            archives = sorted(os.path.join(data_dir, n) for n in os.listdir(data_dir)
                              if archive.is_archive(os.path.join(data_dir, n)))
            if not archives:
                raise
    raw = os.path.join(output_dir, ".raw")
    os.makedirs(raw, exist_ok=True)
    return [data_dir if os.path.isdir(data_dir) else raw] + [
        archive.extract(a, os.path.join(raw, archive.archive_stem(a)), limits) for a in archives]


def _check_split(info, roots, split, workers, progress):
    examples = sources.find_examples(info, roots, split)
    good, bad = [], []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(check_example, e, info) for e in examples]
        for future in tqdm(futures, desc=f"checking {split}", disable=not progress):
            try:
                good.append(future.result())
            except BadExample as error:
                bad.append(str(error))
    return good, bad


def _write_shard(path, examples):
    from deeplab_tf.data import records  # TensorFlow only when writing
    with records.tf.io.TFRecordWriter(path) as writer:
        for e in examples:
            with open(e.image_path, "rb") as f:
                image = f.read()
            writer.write(records.encode_example(image, e.image_format, e.label_png, e.id,
                                                e.height, e.width))


def prepare(dataset, data_dir, output_dir, splits=None, num_shards=0, skip_bad_examples=False,
            num_workers=None, progress=True, archive_limits=archive.DEFAULT_LIMITS):
    """Checks, then writes the TFRecord shards of `splits`; returns the INFO_FILE contents.

    dataset: a built-in name or a dataset.json path (then data_dir must be empty).
    archive_limits: an archive.Limits for the archives found in data_dir."""
    try:
        info = get_dataset(dataset)
    except ValueError as error:   # an unknown name, or a DescriptorError
        raise PrepareError(str(error)) from None
    splits = tuple(splits or info.default_splits)
    unknown = [s for s in splits if s not in info.splits]
    if unknown:
        raise PrepareError(f"--splits has {unknown}, which {info.name} does not have; its "
                           f"splits: {list(info.splits)}")
    workers = num_workers or os.cpu_count() or 1
    _check_output_dir(output_dir)
    try:
        roots = _search_roots(info, data_dir, output_dir, splits, archive_limits)
    except sources.LayoutError as error:
        raise PrepareError(str(error)) from None

    checked, problems = {}, []
    for split in splits:
        try:
            checked[split] = _check_split(info, roots, split, workers, progress)
        except sources.LayoutError as error:
            raise PrepareError(str(error)) from None
        problems += checked[split][1]
    if problems and not skip_bad_examples:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more"
                                            if len(problems) > 20 else "")
        raise PrepareError(f"{len(problems)} bad example(s) in {info.name}, nothing written "
                           f"(--skip_bad_examples skips them): {shown}")
    for split, (good, _) in checked.items():
        if not good:
            raise PrepareError(f"split {split} of {info.name} has no usable example")

    from deeplab_tf.data import records  # TensorFlow is imported only once all is checked
    os.makedirs(output_dir, exist_ok=True)
    info_path = os.path.join(output_dir, records.INFO_FILE)
    summary = {"dataset": info.name, "class_names": list(info.class_names),
               "ignore_label": info.ignore_label, "splits": {}}
    if is_descriptor(dataset):
        summary["descriptor"] = os.path.abspath(dataset)
    if os.path.exists(info_path):
        previous = records.read_info(output_dir)
        if previous["dataset"] != info.name:
            raise PrepareError(f"--output_dir={output_dir} already holds dataset "
                               f"{previous['dataset']}; use another folder for {info.name}")
        summary["splits"].update(previous["splits"])

    _remove_staging_files(output_dir)
    jobs, renames = [], []
    for split, (good, bad) in checked.items():
        count = num_shards or max(1, math.ceil(len(good) / EXAMPLES_PER_SHARD))
        count = min(count, len(good))
        names = [records.shard_name(split, i, count) for i in range(count)]
        for i, name in enumerate(names):
            final = os.path.join(output_dir, name)
            temporary = os.path.join(output_dir, f".{name}{_STAGING}{os.getpid()}")
            jobs.append((temporary, good[i * len(good) // count:(i + 1) * len(good) // count]))
            renames.append((temporary, final))
        stats = None
        for example in good:
            stats = label_stats.add_statistics(
                stats, label_stats.example_statistics(example.class_pixels))
        summary["splits"][split] = {"num_examples": len(good), "files": names,
                                    "skipped": bad, "label_statistics": stats}
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(_write_shard, path, chunk) for path, chunk in jobs]
            for future in tqdm(futures, desc="writing shards", disable=not progress):
                future.result()
    except BaseException:
        for temporary, _ in renames:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise
    for temporary, final in renames:
        os.replace(temporary, final)
    for split in checked:  # shards of an earlier run with another shard count
        keep = set(summary["splits"][split]["files"])
        for name in os.listdir(output_dir):
            if name.startswith(split + "-") and name.endswith(".tfrecord") and name not in keep:
                os.remove(os.path.join(output_dir, name))
    with open(info_path + _STAGING, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    os.replace(info_path + _STAGING, info_path)
    return summary


_STAGING = ".tmp"   # suffix (+ pid) of shards and INFO_FILE while they are written


def _check_output_dir(output_dir):
    """Refuses an output folder that is a file or cannot be written, before any work."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise PrepareError(f"--output_dir={output_dir} is an existing file; expected a folder")
    folder = output_dir
    while folder and not os.path.exists(folder):   # the nearest existing parent is created in
        folder = os.path.dirname(folder)
    folder = folder or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise PrepareError(f"--output_dir={output_dir}: {folder} is not a writable folder")


def _remove_staging_files(output_dir):
    """Shards and INFO_FILE copies of an earlier run that was killed before renaming them."""
    from deeplab_tf.data import records
    for name in os.listdir(output_dir):
        staged_shard = name.startswith(".") and ".tfrecord" + _STAGING in name
        if staged_shard or name.startswith(records.INFO_FILE + _STAGING):
            os.remove(os.path.join(output_dir, name))


FLAGS = flags.FLAGS


def define_flags():
    """Flags of this entry point (defined only when it runs, so importing it is free)."""
    flags.DEFINE_string("dataset", None, f"Dataset to prepare: one of {sorted(DATASETS)} or "
                        "the path of a dataset.json (README: Your own data).")
    flags.DEFINE_string("data_dir", None, "Raw dataset folder, archive, or folder of archives "
                        "(not used with a dataset.json).")
    flags.DEFINE_string("output_dir", None, "Folder for the TFRecord shards.")
    flags.DEFINE_list("splits", [], "Splits to prepare (default: the dataset's standard splits).")
    flags.DEFINE_integer("num_shards", 0, "Shards per split (0: one per 512 examples).")
    flags.DEFINE_bool("skip_bad_examples", False, "Skip and count bad examples instead of failing.")
    flags.DEFINE_integer("num_workers", 0, "Parallel readers (0: one per CPU core).")
    flags.DEFINE_bool("progress", True, "Show progress bars.")
    limits = archive.DEFAULT_LIMITS
    flags.DEFINE_integer("max_archive_member_bytes", limits.max_member_bytes,
                         "Refuse an archive with a member that expands beyond this.")
    flags.DEFINE_integer("max_archive_bytes", limits.max_total_bytes,
                         "Refuse an archive that expands beyond this in total.")
    flags.DEFINE_float("max_archive_ratio", limits.max_ratio,
                       "Refuse an archive whose expanded size is above this many times its "
                       "own (decompression bombs).")


def main(argv):
    del argv
    for name in ("dataset", "output_dir"):
        if not getattr(FLAGS, name):
            sys.exit(f"error: --{name} is required")
    for name in ("num_shards", "num_workers"):
        if FLAGS[name].value < 0:
            sys.exit(f"error: --{name}={FLAGS[name].value} must be >= 0")
    for name in ("max_archive_member_bytes", "max_archive_bytes", "max_archive_ratio"):
        if not math.isfinite(FLAGS[name].value) or FLAGS[name].value <= 0:
            sys.exit(f"error: --{name}={FLAGS[name].value} must be a finite number > 0")
    limits = archive.Limits(FLAGS.max_archive_member_bytes, FLAGS.max_archive_bytes,
                            FLAGS.max_archive_ratio)
    try:
        summary = prepare(FLAGS.dataset, FLAGS.data_dir, FLAGS.output_dir, FLAGS.splits or None,
                          FLAGS.num_shards, FLAGS.skip_bad_examples, FLAGS.num_workers or None,
                          FLAGS.progress, limits)
    except (ValueError, OSError) as error:   # PrepareError, LayoutError, UnsafePathError,
        sys.exit(f"error: {error}")             # UnsafeArchiveError, DescriptorError, I/O
    for split, entry in summary["splits"].items():
        print(f"{split}: {entry['num_examples']} examples in {len(entry['files'])} shard(s), "
              f"{len(entry['skipped'])} skipped")


if __name__ == "__main__":
    define_flags()
    app.run(main)
