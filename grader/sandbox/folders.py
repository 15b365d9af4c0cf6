"""Folders a submission could write into, walked without ever following a link it planted.

A work folder, the batch's scratch folder (students' folders are copied there, links and
all) and the folders of a grader that died hold whatever student code left in them:
links to `/usr`, folders made mode 0300 or 000. The grader measures, hands over and
removes them through directory descriptors: each folder is opened relative to its
parent's descriptor with O_NOFOLLOW | O_DIRECTORY, and what is in it is stat'ed, chowned
and unlinked relative to that descriptor without following links, so a link is only a name
to count or remove, never a way out. A folder that shuts out its owner gets the owner's
bits back (by name in its parent, not following links, or on its own descriptor): the
grader sees and removes everything a run made, as root or not, without relying on root's
DAC_OVERRIDE. Where there are no directory descriptors (Windows), folders are walked by
path, each checked with lstat first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

BY_FD = ({os.open, os.stat, os.unlink, os.rmdir, os.chmod} <= os.supports_dir_fd
         and os.scandir in os.supports_fd)
FOLDER = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) |
          getattr(os, "O_CLOEXEC", 0))
OWNER = stat.S_IRWXU


def _let_owner_in(name: str, dir_fd: int | None) -> None:
    """Give the owner back a folder it cannot open (0300, 000), without following a link:
    a link (swapped in meanwhile) refuses, and so does a folder of someone else."""
    try:
        os.chmod(name, OWNER, dir_fd=dir_fd, follow_symlinks=False)
    except (ValueError, NotImplementedError):  # a link, or no chmod that keeps off links
        raise PermissionError(f"cannot enter {name}") from None


def _open(name: str, dir_fd: int | None) -> int | str:
    """What to list the folder `name` by: its descriptor, never opened through a link;
    without descriptors (Windows), its path once lstat says it is a real folder."""
    if not BY_FD:
        info = os.lstat(name)
        if not stat.S_ISDIR(info.st_mode) or getattr(info, "st_reparse_tag", 0):
            raise NotADirectoryError(name)  # a link or a junction
        return name
    try:
        fd = os.open(name, FOLDER, dir_fd=dir_fd)
    except PermissionError:
        _let_owner_in(name, dir_fd)
        fd = os.open(name, FOLDER, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & OWNER != OWNER:
            os.chmod(fd, OWNER)  # 0400 lists but cannot be entered; 0500 cannot be emptied
    except OSError:
        os.close(fd)
        raise
    return fd


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _listed(handle: int | str) -> tuple[int | str, list[os.DirEntry], list[os.DirEntry]]:
    """(handle, its entries, the folders among them still to visit)."""
    try:
        with os.scandir(handle) as found:
            entries = list(found)
    except OSError:
        _close(handle)
        raise
    return handle, entries, [e for e in entries if _is_folder(e)]


def _close(handle: int | str) -> None:
    if isinstance(handle, int):
        os.close(handle)


def walk(folder: str | Path) -> Iterator[tuple[int | None, list[os.DirEntry]]]:
    """(descriptor, entries) of `folder` and of every folder below it, deepest first: a
    folder's contents come before the folder. An entry's `path` is relative to the
    descriptor (None, and a full path, on Windows), which stays open until the walk moves
    on. Links, and folders that cannot be opened, are entries, never walked into. Raises
    OSError when `folder` itself cannot be opened (a link, gone, not ours)."""
    stack = [_listed(_open(os.fspath(folder), None))]
    try:
        while stack:
            handle, entries, below = stack[-1]
            at = handle if isinstance(handle, int) else None
            if below:
                with suppress(OSError):
                    stack.append(_listed(_open(below.pop().path, at)))
                continue
            stack.pop()
            try:
                yield at, entries
            finally:
                _close(handle)
    finally:
        for handle, _, _ in stack:
            _close(handle)


def remove(folder: str | Path) -> None:
    """Remove `folder` and everything in it, links as links, as far as we may: cleaning up
    never fails the grader."""
    with suppress(OSError):
        for at, entries in walk(folder):
            for entry in entries:
                with suppress(OSError):
                    (os.rmdir if _is_folder(entry) else os.unlink)(entry.path, dir_fd=at)
        os.rmdir(folder)


def usage(folder: str | Path, max_entries: int) -> tuple[int, int]:
    """Bytes on disk and entries below `folder` (links counted, never followed), counting
    at most a little past `max_entries`."""
    size = count = 0
    with suppress(OSError):
        for _, entries in walk(folder):
            for entry in entries:
                with suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    size += getattr(info, "st_blocks", 0) * 512 or info.st_size
            count += len(entries)
            if count > max_entries:
                break
    return size, count

