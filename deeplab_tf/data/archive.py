"""Safe extraction of the official dataset archives (.tar, .tgz / .tar.gz, .zip).

Every member is checked before anything is extracted: a member whose path is absolute, climbs
out with "..", is a link pointing outside, or is a device/FIFO is an error naming the member and
the archive. Extraction goes into a temporary folder beside the destination (inside the
prepare output folder) and is renamed into place only when complete, so an interrupted run
never leaves a half-extracted tree that a later run would trust.
"""
import json
import os
import posixpath
import shutil
import tarfile
import zipfile

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".zip")
_MARKER = ".deeplab_tf_extracted.json"


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder."""


def is_archive(path):
    return os.path.isfile(path) and path.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(path):
    name = os.path.basename(path)
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _escapes(name):
    """True when the archive path `name` is absolute or leaves its root once normalised."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    normalised = posixpath.normpath(name)
    return normalised == ".." or normalised.startswith("../")


def check_members(path):
    """Names of the regular members of archive `path`; UnsafeArchiveError if any would escape."""
    problems, names = [], []
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                # Unix mode in the high 16 bits; 0o120000 = symbolic link.
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if _escapes(info.filename) or is_link:
                    problems.append(info.filename)
                elif not info.is_dir():
                    names.append(info.filename)
    else:
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if _escapes(member.name):
                    problems.append(member.name)
                elif member.issym() or member.islnk():
                    # A symlink target is relative to the link's folder, a hard link's to the
                    # archive root; an absolute target escapes either way.
                    target = member.linkname
                    if member.issym() and not target.startswith("/"):
                        target = posixpath.join(posixpath.dirname(member.name), target)
                    if _escapes(target):
                        problems.append(f"{member.name} -> {member.linkname}")
                elif member.isdev() or member.isfifo():
                    problems.append(f"{member.name} (device or FIFO)")
                elif member.isfile():
                    names.append(member.name)
    if problems:
        shown = ", ".join(repr(p) for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UnsafeArchiveError(
            f"archive {path}: member(s) {shown}{more} would be written outside the extraction "
            f"folder (absolute path, '..' or link); refusing to extract anything from it")
    return names


def extract(path, destination):
    """Extracts archive `path` into folder `destination` (skipped if already done); returns it.

    The archive's size and mtime are recorded in a marker file, so re-running prepare does not
    extract again unless the archive changed.
    """
    stat = os.stat(path)
    stamp = {"archive": os.path.basename(path), "size": stat.st_size, "mtime": int(stat.st_mtime)}
    marker = os.path.join(destination, _MARKER)
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == stamp:
                return destination
    check_members(path)
    temporary = destination + ".partial"
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(temporary)
    else:
        with tarfile.open(path) as archive:
            # The "data" filter (Python >= 3.11.4) repeats the checks above inside tarfile.
            archive.extractall(temporary, filter="data")
    with open(os.path.join(temporary, _MARKER), "w") as f:
        json.dump(stamp, f)
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(temporary, destination)
    return destination
