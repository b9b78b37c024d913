"""Shared test fixtures.

Real reference files (official DeepLab TFLite models, VOC and Cityscapes samples, DenseCRF demo
images) live in ../shared/data beside the repository; tests that need them skip with a clear
message when that folder is absent. Nothing from there is copied into the repository.
"""
import json
import os
import pathlib
import time

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


def once_per_run(tmp_path_factory, name, compute):
    """compute() (JSON-serialisable) once for all pytest-xdist workers of this run: the first
    worker to get here computes and publishes it, the others wait and read it, so an expensive
    module fixture is not built on every worker."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return compute()
    root = tmp_path_factory.getbasetemp().parent   # shared by the workers of one run
    result, lock = root / f"{name}.json", root / f"{name}.lock"
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        deadline = time.time() + 1200
        while not result.exists():
            if time.time() > deadline:
                raise TimeoutError(f"another worker never published {result}")
            time.sleep(0.5)
        value = json.loads(result.read_text())
        if isinstance(value, dict) and "__error__" in value:
            raise RuntimeError(f"the worker that computed {name} failed: {value['__error__']}")
        return value
    try:
        value = compute()
    except BaseException as error:
        result.write_text(json.dumps({"__error__": repr(error)[:2000]}))
        raise
    staged = result.with_suffix(".tmp")
    staged.write_text(json.dumps(value))
    os.replace(staged, result)
    return value
