"""Shared test fixtures.

Real reference files (official DeepLab TFLite models, VOC and Cityscapes samples, DenseCRF demo
images) live in ../shared/data beside the repository; tests that need them skip with a clear
message when that folder is absent. Nothing from there is copied into the repository.
"""
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("DEEPLAB_TF_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts):
    """Path inside the shared reference data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (expected ../shared/data beside the repo)")
    return path


@pytest.fixture
def shared_data():
    return shared_path()

