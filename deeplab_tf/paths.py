"""Confinement of names that come from data: example ids and output paths.

Ids come from split lists, dataset descriptors, TFRecords, archive members and directory
listings, and end up in paths (prepare reads ID.jpg, evaluate writes panels/ID.png). An id that
is itself a path ("../../tmp/evil", "/etc/x", "C:x", "a/b", a NUL byte) could make the code
read or write outside the folders it was given, so every reader refuses it by name
(check_id), and every writer builds its output paths with inside(), which resolves the path
(symbolic links included) and refuses one that leaves its folder.
"""
import os
import re

# A drive letter ("C:", "c:x") or a Windows device/stream separator anywhere.
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePathError(ValueError):
    """A name from the data would lead outside its folder."""


def id_problem(value):
    """Why `value` cannot be an example id (None when it can)."""
    if not isinstance(value, str) or not value.strip():
        return "it is empty"
    if "\x00" in value:
        return "it holds a NUL byte"
    if any(ord(c) < 32 for c in value):
        return "it holds control characters"
    if "/" in value or "\\" in value:
        return "it holds a path separator"
    if value in (".", ".."):
        return "it names a folder"
    if _DRIVE.match(value) or ":" in value:
        return "it holds a drive letter or ':'"
    return None


def check_id(value, where):
    """`value` if it is a plain name; UnsafePathError naming it and `where` otherwise."""
    problem = id_problem(value)
    if problem:
        raise UnsafePathError(f"{where}: example id {value!r} is refused ({problem}); ids name "
                              "files and must be plain names, not paths")
    return value


def inside(folder, *names):
    """os.path.join(folder, *names), refused (UnsafePathError) unless it resolves inside
    `folder`: a writer's only way to build a path from a name it did not choose."""
    path = os.path.join(folder, *names)
    root = os.path.realpath(folder)
    resolved = os.path.realpath(path)
    if resolved != root and os.path.commonpath([root, resolved]) != root:
        raise UnsafePathError(f"{path} would be written outside {folder}; refusing "
                              f"(names {list(names)!r} must stay inside their folder)")
    return path
