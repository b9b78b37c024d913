"""Nothing in a config is silently ignored: every field of every config dataclass is read
(as an attribute, not through absl FLAGS) by some module of the package other than config.py,
which only fills them. A field nobody reads is a flag that does nothing (as --crf at training
once was)."""
import ast
import dataclasses
import pathlib

import pytest

from deeplab_tf import config

PACKAGE = pathlib.Path(config.__file__).parent
CONFIGS = [config.DataConfig, config.ModelConfig, config.TrainConfig, config.EvalConfig,
           config.ExportConfig]


def _attributes_read():
    """Attribute names read anywhere in the package, except on FLAGS and in config.py."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                if isinstance(node.value, ast.Name) and node.value.id in ("FLAGS", "flags"):
                    continue
                names.add(node.attr)
    return names


READ = _attributes_read()


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_is_read(cls):
    unread = [f.name for f in dataclasses.fields(cls) if f.name not in READ]
    assert not unread, f"{cls.__name__} fields that no code reads: {unread}"


def test_the_check_sees_a_field_nobody_reads():
    @dataclasses.dataclass(frozen=True)
    class Probe:
        field_no_module_reads_1f2e: int = 0
    assert "field_no_module_reads_1f2e" not in READ
