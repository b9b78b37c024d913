"""Safe extraction of the official dataset archives (.tar, .tgz / .tar.gz, .zip).

Every member is checked before anything is extracted: a member whose path is absolute, climbs
out with "..", is a link pointing outside, or is a device/FIFO is an error naming the member and
the archive. Extraction goes into a temporary folder beside the destination (inside the
prepare output folder) and is renamed into place only when complete, so an interrupted run
never leaves a half-extracted tree that a later run would trust.
"""
import dataclasses
import json
import os
import posixpath
import shutil
import tarfile
import zipfile

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".zip")
_MARKER = ".deeplab_tf_extracted.json"


class ArchiveError(ValueError):
    """An archive cannot be read or extracted; the message names it."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the extraction folder, or the archive
    would expand beyond its size limits (a decompression bomb)."""


GiB = 1 << 30


@dataclasses.dataclass(frozen=True)
class Limits:
    """What an archive may expand to, checked from its headers before anything is written
    (tar headers give each member's exact size; zipfile writes no more than a member's
    declared size). The defaults hold every official archive: the largest member of VOC,
    SBD, Cityscapes and the model zoo is under 1 GiB, the largest archive (Cityscapes'
    leftImg8bit, 11 GB) expands to under 12 GB, and images and float weights barely
    compress (ratio < 2), while a bomb's ratio is in the hundreds."""
    max_member_bytes: int = 4 * GiB
    max_total_bytes: int = 64 * GiB
    max_ratio: float = 100.0     # total expanded bytes / archive bytes


DEFAULT_LIMITS = Limits()


def _size(number):
    return f"{number / GiB:.2f} GiB" if number >= GiB else f"{number / (1 << 20):.1f} MiB"


def check_sizes(path, sizes, limits=DEFAULT_LIMITS):
    """UnsafeArchiveError naming the archive, the member and the limit if {member: bytes}
    exceeds `limits` (flags: prepare's --max_archive_member_bytes, ... raise them)."""
    for name, size in sizes.items():
        if size > limits.max_member_bytes:
            raise UnsafeArchiveError(
                f"archive {path}: member {name!r} expands to {_size(size)}, above the limit "
                f"of {_size(limits.max_member_bytes)} per member (--max_archive_member_bytes "
                "raises it); nothing extracted")
    total = sum(sizes.values())
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"archive {path} expands to {_size(total)}, above the limit of "
            f"{_size(limits.max_total_bytes)} (--max_archive_bytes raises it); nothing extracted")
    compressed = max(os.path.getsize(path), 1)
    if total > 16 << 20 and total / compressed > limits.max_ratio:   # small archives pass
        raise UnsafeArchiveError(
            f"archive {path} ({_size(compressed)}) expands to {_size(total)}, a compression "
            f"ratio of {total / compressed:.0f} above the limit of {limits.max_ratio:g} "
            "(a decompression bomb? --max_archive_ratio raises it); nothing extracted")


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


def check_members(path, limits=DEFAULT_LIMITS):
    """Names of the regular members of archive `path`; UnsafeArchiveError if any would escape
    or the archive would expand beyond `limits`. An unreadable archive is an error naming it."""
    try:
        problems, sizes = _members(path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise ArchiveError(f"archive {path} is not readable ({type(error).__name__}: "
                                 f"{error}); nothing extracted") from None
    if problems:
        shown = ", ".join(repr(p) for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UnsafeArchiveError(
            f"archive {path}: member(s) {shown}{more} would be written outside the extraction "
            f"folder (absolute path, '..' or link); refusing to extract anything from it")
    check_sizes(path, sizes, limits)
    return list(sizes)


def _members(path):
    """(problems, {regular member: size}) of an archive."""
    problems, sizes = [], {}
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                # Unix mode in the high 16 bits; 0o120000 = symbolic link.
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if _escapes(info.filename) or is_link:
                    problems.append(info.filename)
                elif not info.is_dir():
                    sizes[info.filename] = info.file_size
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
                    sizes[member.name] = member.size
    return problems, sizes


def extract(path, destination, limits=DEFAULT_LIMITS):
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
    check_members(path, limits)
    temporary = destination + ".partial"
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    try:
        if path.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(temporary)
        else:
            with tarfile.open(path) as archive:
                # The "data" filter (Python >= 3.11.4) repeats the checks above in tarfile.
                archive.extractall(temporary, filter="data")
        with open(os.path.join(temporary, _MARKER), "w") as f:
            json.dump(stamp, f)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        shutil.rmtree(temporary, ignore_errors=True)   # a partial tree is never used
        raise ArchiveError(f"archive {path} could not be extracted ({type(error).__name__}: "
                           f"{error}); nothing kept") from None
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(temporary, destination)
    return destination
