"""The Colab notebooks (notebooks/*.ipynb): stored without outputs, and notebooks 1 and 2 run
top to bottom headless (nbclient) with small settings.

Parameters are injected the papermill way: a cell tagged "injected-parameters" is inserted
after the cell tagged "parameters", so the notebook's own defaults stay what a Colab user
sees. ../shared/data stands in for the internet (the official files are "downloaded" from it
through the real download code with a file:// mirror); the tests skip without it.

The kernel is the Python running the tests (a kernelspec written at test time that points at
sys.executable), so `make test`'s fresh .venv is used whatever kernels Jupyter knows about.
"""
import json
import os
import sys
import time

import pytest

from tests.conftest import REPO, shared_path

NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "deeplab_tf_tests"


def notebook_paths():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_three_notebooks_exist():
    names = {p.name for p in notebook_paths()}
    assert {"quickstart.ipynb", "train_your_data.ipynb", "reproduce_papers.ipynb"} <= names


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    """Outputs are stripped in git: no outputs, no execution counts, one parameters cell."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} keep outputs or execution counts"
    tagged = [i for i, cell in enumerate(nb.cells)
              if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters', got {tagged}"
    # The Colab badge points at this very file.
    assert f"notebooks/{path.name})" in nb.cells[0].source, nb.cells[0].source


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernelspec for this interpreter (with ipykernel from the test extras)."""
    pytest.importorskip("ipykernel")
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "deeplab_tf tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The repository is importable in the kernel even when it is not pip-installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return KERNEL_NAME


def execute(name, parameters, workdir, kernel_name, timeout=600):
    """Runs notebooks/NAME with injected parameters in workdir; returns the executed notebook.

    Fails with the cell's source and traceback when any cell raises.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    index = next(i for i, cell in enumerate(nb.cells)
                 if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(
        source, metadata={"tags": ["injected-parameters"]}))
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=timeout,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{name}: a cell failed:\n{error}")
    print(f"{name}: executed in {time.perf_counter() - start:.1f} s")
    return nb


def images_shown(nb):
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               for out in cell.get("outputs", []))


def text_output(nb):
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "text/plain" in out.get("data", {}):
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


@pytest.mark.slow  # ~45 s on 2 busy cores: convert, segment, CRF, TFLite export + LiteRT
def test_quickstart_runs_top_to_bottom(tmp_path, kernel):
    official = shared_path("official")
    nb = execute("quickstart.ipynb",
                 {"OFFICIAL_DIR": str(official), "WORK_DIR": str(tmp_path / "work")},
                 tmp_path, kernel)
    text = text_output(nb)
    # The converted official model reproduces Google's expected mask, and LiteRT our Keras model.
    assert "agreement with Google's expected mask: 100.00%" in text, text
    assert "LiteRT and Keras agree on" in text
    assert (tmp_path / "work" / "deeplabv3_mnv2_dm05.tflite").is_file()
    # Overlay, CRF before/after, CRF zoom, Keras vs LiteRT.
    assert images_shown(nb) >= 4


@pytest.mark.slow  # ~1-2 min on 2 busy cores: two TensorFlow processes (kernel, evaluate)
def test_train_your_data_runs_top_to_bottom(tmp_path, kernel):
    """Synthetic VOC-layout folder -> prepare -> 10 steps from a flagfile, in the kernel's
    own process (config.from_flagfile + train.run) -> evaluate -> predictions -> loss curve
    from the event files (TensorBoard display off: headless)."""
    work = tmp_path / "work"
    nb = execute("train_your_data.ipynb",
                 {"WORK_DIR": str(work), "NUM_TRAIN": 32, "NUM_VAL": 8, "IMAGE_SIZE": 64,
                  "TRAIN_STEPS": 10, "BATCH_SIZE": 8, "CROP_SIZE": 65, "EVAL_EVERY": 0,
                  "SHOW_TENSORBOARD": False},
                 tmp_path, kernel)
    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_iou"] <= 1.0
    assert set(metrics["per_class_iou"]) == {"background", "disc", "box", "triangle", "stick"}
    assert (work / "train" / "model.keras").is_file()
    text = text_output(nb)
    assert "step 10/10" in text and "scalars:" in text and "loss" in text, text
    assert "final val mIoU" in text, text   # train.run's result, in the kernel
    # Dataset samples, confusion matrix, predictions, loss curve.
    assert images_shown(nb) >= 4


@pytest.mark.slow  # ~20-30 s: one preset counted at two output strides
def test_reproduce_papers_runs_on_one_preset(tmp_path, kernel):
    """The cost table and the paper-row table build (one preset, so it stays quick)."""
    nb = execute("reproduce_papers.ipynb",
                 {"PRESETS": ["deeplabv3_mobilenetv2_dm05"], "OUTPUT_STRIDES": (16, 8),
                  "REPO_DIR": str(REPO)},
                 tmp_path, kernel)
    tables = "\n".join(out["data"]["text/markdown"] for cell in nb.cells
                       for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {}))
    # Counted live: 0.87B at OS16 and 2.83B at OS8 against the model zoo's 0.88B and 2.84B.
    assert "| deeplabv3_mobilenetv2_dm05 | v3 |" in tables, tables
    assert "0.88B (model zoo)" in tables and "2.84B (model zoo)" in tables
    assert "| v1 DeepLab-LargeFOV |" in tables
    assert images_shown(nb) >= 1
