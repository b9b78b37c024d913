"""Downloads official DeepLab files into a cache folder, checking their sha256.

Addresses are the official ones (research/deeplab/g3doc/model_zoo.md and quantize.md, the
TFLite GPU delegate page, google-coral/test_data, research/slim/README.md and
research/slim/nets/mobilenet/README.md for the ImageNet classification checkpoints). sha256
values are recorded where we hold a copy of the file; for the others the digest of the first
download is recorded in the cache (FILE.sha256) and checked on every later use. Only https://
(and file:// mirrors) are fetched.

The cache folder is $DEEPLAB_TF_CACHE, else ~/.cache/deeplab_tf. `base_url` (for a known
name, default $DEEPLAB_TF_MIRROR) replaces the folder part of the address: a local or
in-house mirror, a file:// URL in tests. So nothing here needs the network unless a user asks
for a file that is not cached.
"""
import dataclasses
import hashlib
import os
import pathlib
import re
import urllib.parse
import urllib.request
from typing import Optional

_TF = "https://download.tensorflow.org/models/"
_MOBILENET_V2 = "https://storage.googleapis.com/mobilenet_v2/checkpoints/"


@dataclasses.dataclass(frozen=True)
class OfficialFile:
    url: str
    sha256: Optional[str]
    kind: str            # "tflite" or "checkpoint" (a tarball of a TF checkpoint)
    description: str
    dataset: str = ""    # what it was trained on
    published: str = ""  # its published mIoU (the source's evaluation setting)
    size: str = ""       # download size as published (or measured, for the files we hold)

    @property
    def filename(self):
        return self.url.rsplit("/", 1)[-1]


_ZOO = "research/deeplab/g3doc/model_zoo.md"
OFFICIAL_FILES = {
    # TFLite: the GPU delegate's sample (tensorflow.org/lite/performance/gpu) and Coral's.
    "deeplabv3_257_mv_gpu": OfficialFile(
        _TF + "tflite/gpu/deeplabv3_257_mv_gpu.tflite",
        "68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6", "tflite",
        "float DeepLab v3 MobileNetV2 dm0.5, OS8, 257x257, PASCAL (TFLite GPU sample)",
        "COCO + VOC 2012", "not published", "2.8 MB"),
    "deeplabv3_mnv2_pascal_quant": OfficialFile(
        "https://github.com/google-coral/test_data/raw/master/deeplabv3_mnv2_pascal_quant.tflite",
        "350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398", "tflite",
        "uint8 DeepLab v3 MobileNetV2 dm1.0, OS16, 513x513, PASCAL (Coral test data)",
        "COCO + VOC 2012", "not published", "2.2 MB"),
    # The model zoo (_ZOO): whole models, TF1 checkpoints in tarballs.
    "mobilenetv2_coco_voc_trainaug": OfficialFile(
        _TF + "deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3 MobileNetV2 dm1.0 (no ASPP, no decoder)",
        "COCO + VOC 2012 train_aug", "75.32% val (OS16, single scale)", "23 MB"),
    "mobilenetv2_coco_voc_trainval": OfficialFile(
        _TF + "deeplabv3_mnv2_pascal_trainval_2018_01_29.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3 MobileNetV2 dm1.0 (no ASPP, no decoder)",
        "COCO + VOC 2012 train_aug + trainval", "80.25% test (OS8, 0.5:0.25:1.75, flip)",
        "23 MB"),
    "mobilenetv2_dm05_coco_voc_trainaug": OfficialFile(
        _TF + "deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3 MobileNetV2 dm0.5",
        "COCO + VOC 2012 train_aug", "70.19% val (OS16, single scale)", ""),
    "xception65_coco_voc_trainaug": OfficialFile(
        _TF + "deeplabv3_pascal_train_aug_2018_01_04.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3+ Xception-65 with decoder",
        "COCO + VOC 2012 train_aug", "82.20% val (OS16, single scale)", "439 MB"),
    "xception65_coco_voc_trainval": OfficialFile(
        _TF + "deeplabv3_pascal_trainval_2018_01_04.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3+ Xception-65 with decoder",
        "COCO + VOC 2012 train_aug + trainval", "87.80% test (OS8, 0.5:0.25:1.75, flip)",
        "439 MB"),
    "mobilenetv2_coco_cityscapes_trainfine": OfficialFile(
        _TF + "deeplabv3_mnv2_cityscapes_train_2018_02_05.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3 MobileNetV2 dm1.0 (no ASPP, no decoder)",
        "COCO + Cityscapes train_fine", "70.71% val (OS16, single scale)", "23 MB"),
    "xception65_cityscapes_trainfine": OfficialFile(
        _TF + "deeplabv3_cityscapes_train_2018_02_06.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3+ Xception-65 with decoder",
        "ImageNet + Cityscapes train_fine", "78.79% val (OS16, single scale)", "439 MB"),
    "xception65_ade20k_train": OfficialFile(
        _TF + "deeplabv3_xception_ade20k_train_2018_05_29.tar.gz", None, "checkpoint",
        "model zoo: DeepLab v3+ Xception-65 with decoder, 151 classes",
        "ImageNet + ADE20K train", "45.65% val (OS8, 0.5:0.25:1.75, flip)", "439 MB"),
    # ImageNet classification checkpoints: backbone + classifier only, for --init=official:NAME
    # (deeplab_tf.training.initialization loads the backbone scope, the head starts fresh).
    # _ZOO, "Checkpoints pretrained on ImageNet" (it names them xception_65 /
    # resnet_v1_{50,101}_beta):
    "xception_65": OfficialFile(
        _TF + "deeplabv3_xception_2018_01_04.tar.gz", None, "checkpoint",
        "ImageNet: DeepLab's modified aligned Xception-65 (backbone xception65)",
        "ImageNet", "backbone only", "447 MB"),
    "resnet_v1_50_beta": OfficialFile(
        _TF + "resnet_v1_50_2018_05_04.tar.gz", None, "checkpoint",
        "ImageNet: ResNet-50 with the beta stem of three 3x3 convs (backbone resnet50_beta)",
        "ImageNet", "backbone only", "274 MB"),
    "resnet_v1_101_beta": OfficialFile(
        _TF + "resnet_v1_101_2018_05_04.tar.gz", None, "checkpoint",
        "ImageNet: ResNet-101 with the beta stem of three 3x3 convs (backbone resnet101_beta)",
        "ImageNet", "backbone only", "477 MB"),
    # research/slim/README.md, "Pre-trained Models" (Caffe weights converted; 7x7 stem):
    "resnet_v1_50": OfficialFile(
        _TF + "resnet_v1_50_2016_08_28.tar.gz", None, "checkpoint",
        "ImageNet: slim ResNet V1 50, original 7x7 stem (backbone resnet50)",
        "ImageNet", "backbone only", ""),
    "resnet_v1_101": OfficialFile(
        _TF + "resnet_v1_101_2016_08_28.tar.gz", None, "checkpoint",
        "ImageNet: slim ResNet V1 101, original 7x7 stem (backbone resnet101)",
        "ImageNet", "backbone only", ""),
    # research/slim/nets/mobilenet/README.md, "Mobilenet V2 Imagenet Checkpoints":
    "mobilenet_v2_1.0_224": OfficialFile(
        _MOBILENET_V2 + "mobilenet_v2_1.0_224.tgz", None, "checkpoint",
        "ImageNet: MobileNetV2 depth multiplier 1.0 (backbone mobilenetv2)",
        "ImageNet", "backbone only", ""),
}


def markdown_table():
    """The README's table of the official files (a test keeps the README in step)."""
    lines = ["| name | what | trained on | published mIoU | size | sha256 |",
             "|---|---|---|---|---|---|"]
    for name, entry in OFFICIAL_FILES.items():
        digest = f"`{entry.sha256}`" if entry.sha256 else "recorded at first download"
        lines.append(f"| `{name}` | {entry.description} | {entry.dataset} | "
                     f"{entry.published} | {entry.size or 'n/a'} | {digest} |")
    return "\n".join(lines) + "\n"


class DownloadError(RuntimeError):
    """A download failed or its content does not match the expected sha256."""


def cache_dir(path=None):
    folder = pathlib.Path(path or os.environ.get("DEEPLAB_TF_CACHE")
                          or pathlib.Path.home() / ".cache" / "deeplab_tf")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total, name, enabled):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)


def _check_scheme(url):
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("https", "file"):
        raise DownloadError(f"refusing {url}: only https:// addresses (or file:// mirrors) are "
                            "downloaded, so what arrives is what the server sent")


def _record_path(target):
    """Where the digest of a cached file is recorded (trust on first download)."""
    return target.with_name(target.name + ".sha256")


def _recorded(target):
    record = _record_path(target)
    return record.read_text().split()[0] if record.is_file() and record.read_text().strip() \
        else None


def _record(target, digest):
    staged = _record_path(target).with_name(f".{target.name}.sha256.{os.getpid()}")
    staged.write_text(f"{digest}  {target.name}\n")
    os.replace(staged, _record_path(target))


def _verified(target, expected, origin):
    got = sha256_of(target)
    if got != expected:
        raise DownloadError(
            f"cached file {target} has sha256 {got}, not the {origin} {expected}: it changed "
            "after it was downloaded (or another file has its name); delete it to download it "
            "again")
    return target


def fetch(name_or_url, *, cache=None, sha256=None, base_url=None, progress=True):
    """Returns the local path of an official file, downloading it once into the cache.

    Every use checks the cached file's sha256: against `sha256` (a pin by hand), else the
    digest recorded in OFFICIAL_FILES, else the digest of its first download, which is
    recorded beside it (FILE.sha256). A download goes to a temporary name and is moved into
    place only once complete and verified, so a partial download is never used.

    Args:
      name_or_url: an OFFICIAL_FILES key or a URL (https:// or file://).
      cache: cache folder (default $DEEPLAB_TF_CACHE or ~/.cache/deeplab_tf).
      sha256: expected digest (default: the recorded one for a known name).
      base_url: folder URL that replaces the official one (a mirror; file:// in tests);
        for a known name the default is $DEEPLAB_TF_MIRROR when set.
      progress: show a tqdm progress bar.
    Raises:
      ValueError: unknown name. DownloadError: plain http, unreachable address, or a sha256
      that does not match (of the download or of the cached file).
    """
    if name_or_url in OFFICIAL_FILES:
        entry = OFFICIAL_FILES[name_or_url]
        url, sha256 = entry.url, sha256 or entry.sha256
        origin = "pinned sha256" if sha256 != entry.sha256 else "recorded official sha256"
    elif "://" in name_or_url:
        url, origin = name_or_url, "pinned sha256"
    else:
        raise ValueError(f"official file {name_or_url!r} is unknown; allowed: "
                         f"{sorted(OFFICIAL_FILES)} or a URL")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256.lower()):
        raise DownloadError(f"sha256 {sha256!r} is not 64 hexadecimal digits")
    sha256 = sha256.lower() if sha256 else None
    filename = url.rsplit("/", 1)[-1]
    if not filename or filename in (".", "..") or "\\" in filename:
        raise DownloadError(f"{url} does not end in a file name")
    if base_url is None and name_or_url in OFFICIAL_FILES:  # an explicit URL stays as given
        base_url = os.environ.get("DEEPLAB_TF_MIRROR")
    if base_url:
        url = base_url.rstrip("/") + "/" + filename
    _check_scheme(url)
    target = cache_dir(cache) / filename
    for stale in target.parent.glob(f".{filename}.part*"):   # downloads of a killed run
        stale.unlink(missing_ok=True)
    if target.exists():
        if sha256 is not None:
            return _verified(target, sha256, origin)
        recorded = _recorded(target)
        if recorded:
            return _verified(target, recorded, f"digest recorded at its first download in "
                                               f"{_record_path(target).name}")
        _record(target, sha256_of(target))   # a file placed in the cache by hand
        return target
    partial = target.with_name(f".{filename}.part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = response.headers.get("Content-Length")
            bar = _progress(int(total) if total else None, filename, progress)
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
            if total and out.tell() != int(total):
                raise OSError(f"received {out.tell()} of {total} bytes")
    except (OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url}: {error}") from None
    got = sha256_of(partial)
    if sha256 is not None and got != sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch for {url}: expected {sha256}, got {got} "
                            "(the file was deleted; the address may serve another version)")
    if sha256 is None:
        print(f"{filename}: sha256 {got} (not pinned; recorded, and checked on every use)")
    _record(target, got)
    os.replace(partial, target)
    return target


def file_url(path):
    """file:// URL of a local path (for mirrors and tests)."""
    return urllib.parse.urljoin("file:", urllib.request.pathname2url(str(pathlib.Path(path)
                                                                          .resolve())))
