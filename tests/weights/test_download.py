"""The download helper, pointed at local copies (file:// URLs), never the network."""
import pathlib
import shutil

import pytest

from deeplab_tf.weights import download
from tests.weights.conftest import FLOAT_FILE, official


@pytest.fixture
def mirror(tmp_path):
    """A local mirror folder holding a copy of the official float file."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    shutil.copy(official(FLOAT_FILE), folder / FLOAT_FILE)
    return folder


def test_fetch_official_name_from_mirror_checks_sha256_and_caches(tmp_path, mirror):
    cache = tmp_path / "cache"
    path = download.fetch("deeplabv3_257_mv_gpu", cache=cache,
                          base_url=download.file_url(mirror), progress=False)
    assert path == cache / FLOAT_FILE
    assert download.sha256_of(path) == download.OFFICIAL_FILES["deeplabv3_257_mv_gpu"].sha256
    (mirror / FLOAT_FILE).unlink()  # cached now: no second download
    assert download.fetch("deeplabv3_257_mv_gpu", cache=cache,
                          base_url=download.file_url(mirror), progress=False) == path


def test_recorded_sha256_match_the_shared_copies():
    for name, filename in (("deeplabv3_257_mv_gpu", FLOAT_FILE),
                           ("deeplabv3_mnv2_pascal_quant", "deeplabv3_mnv2_pascal_quant.tflite")):
        assert download.sha256_of(official(filename)) == download.OFFICIAL_FILES[name].sha256


def test_sha256_mismatch_is_an_error_and_leaves_nothing(tmp_path, mirror):
    cache = tmp_path / "cache"
    url = download.file_url(mirror / FLOAT_FILE)
    with pytest.raises(download.DownloadError, match="sha256 mismatch for file:.*expected 00ff"):
        download.fetch(url, cache=cache, sha256="00ff" * 16, progress=False)
    assert list(cache.iterdir()) == []
    with pytest.raises(download.DownloadError, match="'00ff' is not 64 hexadecimal digits"):
        download.fetch(url, cache=cache, sha256="00ff", progress=False)


def test_plain_http_is_refused_and_no_http_address_is_in_the_package(tmp_path):
    with pytest.raises(download.DownloadError, match="refusing http://example.org/x.tflite: "
                                                     "only https://"):
        download.fetch("http://example.org/x.tflite", cache=tmp_path, progress=False)
    with pytest.raises(download.DownloadError, match="refusing http://mirror/"):
        download.fetch("deeplabv3_257_mv_gpu", cache=tmp_path, base_url="http://mirror",
                       progress=False)
    package = pathlib.Path(download.__file__).parents[1]
    offenders = [str(p) for p in package.rglob("*.py") if "http://" in p.read_text()]
    assert offenders == []


def test_first_download_digest_is_recorded_and_checked_on_every_use(tmp_path, mirror):
    cache = tmp_path / "cache"
    url = download.file_url(mirror / FLOAT_FILE)
    (cache / f".{FLOAT_FILE}.part999").parent.mkdir(parents=True)
    (cache / f".{FLOAT_FILE}.part999").write_bytes(b"half a download of a killed run")
    path = download.fetch(url, cache=cache, progress=False)
    assert sorted(p.name for p in cache.iterdir()) == [FLOAT_FILE, FLOAT_FILE + ".sha256"]
    digest = download.sha256_of(path)
    assert (cache / (FLOAT_FILE + ".sha256")).read_text().split()[0] == digest
    assert download.fetch(url, cache=cache, progress=False) == path   # verified, no download
    with open(path, "r+b") as f:   # the cached file changes behind our back
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(download.DownloadError, match=f"cached file .*{FLOAT_FILE} has sha256 .*"
                                                     "recorded at its first download"):
        download.fetch(url, cache=cache, progress=False)
    with pytest.raises(download.DownloadError, match="not the pinned sha256 " + digest):
        download.fetch(url, cache=cache, sha256=digest, progress=False)


def test_a_file_put_in_the_cache_by_hand_is_recorded_on_first_use(tmp_path, mirror):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(mirror / FLOAT_FILE, cache / "by_hand.tflite")
    url = "https://example.org/by_hand.tflite"   # never fetched: the cached copy is used
    assert download.fetch(url, cache=cache, progress=False) == cache / "by_hand.tflite"
    assert (cache / "by_hand.tflite.sha256").is_file()


def test_unreachable_address_and_unknown_name(tmp_path):
    with pytest.raises(download.DownloadError, match="could not download file:.*absent.tflite"):
        download.fetch(download.file_url(tmp_path / "absent.tflite"), cache=tmp_path / "c",
                       progress=False)
    with pytest.raises(ValueError, match="official file 'deeplabv9' is unknown; allowed: "):
        download.fetch("deeplabv9", cache=tmp_path / "c")


def test_progress_bar_and_unpinned_digest(tmp_path, mirror, capsys):
    path = download.fetch(download.file_url(mirror / FLOAT_FILE), cache=tmp_path / "c",
                          progress=True)
    assert path.exists()
    captured = capsys.readouterr()
    assert f"{FLOAT_FILE}: sha256 68a53978" in captured.out
    assert "B/s" in captured.err or "B/" in captured.err  # tqdm wrote its bar


def test_imagenet_checkpoints_are_known_by_name_at_https_addresses():
    # research/deeplab/g3doc/model_zoo.md "Checkpoints pretrained on ImageNet", research/slim
    # README.md "Pre-trained Models", research/slim/nets/mobilenet/README.md.
    expected = {
        "xception_65": "download.tensorflow.org/models/deeplabv3_xception_2018_01_04.tar.gz",
        "resnet_v1_50_beta": "download.tensorflow.org/models/resnet_v1_50_2018_05_04.tar.gz",
        "resnet_v1_101_beta": "download.tensorflow.org/models/resnet_v1_101_2018_05_04.tar.gz",
        "resnet_v1_50": "download.tensorflow.org/models/resnet_v1_50_2016_08_28.tar.gz",
        "resnet_v1_101": "download.tensorflow.org/models/resnet_v1_101_2016_08_28.tar.gz",
        "mobilenet_v2_1.0_224":
            "storage.googleapis.com/mobilenet_v2/checkpoints/mobilenet_v2_1.0_224.tgz",
    }
    for name, address in expected.items():
        entry = download.OFFICIAL_FILES[name]
        assert (entry.url, entry.kind, entry.sha256) == ("https://" + address, "checkpoint", None)
    assert all(e.url.startswith("https://") for e in download.OFFICIAL_FILES.values())


def test_mirror_variable_serves_known_names_only(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DEEPLAB_TF_MIRROR", download.file_url(mirror))
    path = download.fetch("deeplabv3_257_mv_gpu", cache=tmp_path / "cache", progress=False)
    assert download.sha256_of(path) == download.OFFICIAL_FILES["deeplabv3_257_mv_gpu"].sha256
    # An explicit URL is fetched as given, not from the mirror.
    with pytest.raises(download.DownloadError, match="could not download file:.*elsewhere"):
        download.fetch(download.file_url(tmp_path / "elsewhere" / FLOAT_FILE),
                       cache=tmp_path / "other", progress=False)


def test_the_readme_lists_every_official_file():
    readme = (pathlib.Path(download.__file__).parents[2] / "README.md").read_text()
    assert download.markdown_table() in readme, "regenerate the README table: " \
        "python -c 'from deeplab_tf.weights import download; print(download.markdown_table())'"
    assert all(entry.url.startswith("https://") for entry in download.OFFICIAL_FILES.values())
