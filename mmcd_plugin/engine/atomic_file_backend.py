"""Crash-safe local files: a checkpoint on disk is either complete or absent.

mmengine writes every checkpoint through its file backends
(``Runner.save_checkpoint`` -> ``mmengine.runner.save_checkpoint`` ->
``backend.put(bytes, path)``). The stock ``LocalBackend.put`` opens the final
path and writes into it, so a process killed (or a node lost) in the middle
leaves a truncated ``iter_N.pth`` under its final name, which ``last_checkpoint``
may then name.

:func:`atomic_write` writes the bytes to ``PATH.<pid>.partial`` in the same
directory, flushes and fsyncs it, renames it over ``PATH`` (``os.replace``:
atomic within one filesystem on POSIX and Windows) and fsyncs the directory so
the rename itself survives a power loss. A reader therefore sees the old file,
or no file, or the new complete file; at worst a crash leaves a
``PATH.<pid>.partial`` file, which nothing reads (delete it at leisure). The
process id in the temporary name lets several processes write the same path
at once (every rank dumps the same results file): the last rename wins and
none fails.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with ``put`` and
``put_text`` going through :func:`atomic_write`. It is registered as
mmengine's backend for local paths (the name ``'local'`` and paths without a
``scheme://`` prefix) with ``register_backend(..., force=True)`` when this module
is imported, i.e. by ``import mmcd_plugin`` (as :mod:`mmcd_plugin.engine.checkpoint`
replaces the loader). Every checkpoint any hook saves (periodic, best,
published) is then atomic without a config change, and so is every other file
mmengine writes through ``put``.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

#: Suffix of the file a save writes before it is renamed into place.
PARTIAL_SUFFIX = '.partial'


def fsync_directory(directory: str) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories
    cannot be opened or synced (Windows, some network filesystems)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen incomplete.

    An error while writing (a full disk) removes the temporary file and
    leaves ``path`` as it was; a killed process leaves the temporary file.

    Args:
        path (str | Path): Destination; its directory is created if missing.
        data (bytes): The complete content.
    """
    path = osp.abspath(str(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    partial = f'{path}.{os.getpid()}{PARTIAL_SUFFIX}'
    try:
        with open(partial, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        if osp.exists(partial):
            os.remove(partial)
        raise
    fsync_directory(directory)


@register_backend('local', force=True, prefixes='')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local storage backend whose writes are atomic
    (:func:`atomic_write`); reading, listing and removing are unchanged."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write(filepath, obj.encode(encoding))

