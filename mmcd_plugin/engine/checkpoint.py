"""Loading mmengine checkpoints under torch's ``weights_only=True`` default.

torch >= 2.6 unpickles with ``weights_only=True`` unless told otherwise, and
mmengine 0.10.7 does not tell it otherwise. A checkpoint that the Runner saved
holds more than tensors: its ``message_hub`` keeps ``HistoryBuffer`` objects
with numpy arrays and numpy scalars in ``meta``. Loading it therefore fails with
``UnpicklingError``, which breaks ``tools/test.py CKPT`` and ``--resume``.

The fix keeps the safe loader and extends its allow-list with exactly the
types mmengine writes (no ``weights_only=False``, which would execute arbitrary
pickled code from an untrusted file). ``HistoryBuffer`` pickles its statistics
functions as ``getattr(HistoryBuffer, 'min')``; rather than allowing the builtin
``getattr`` (which would reach any attribute of any allowed object), the name
``builtins.getattr`` is bound to :func:`history_buffer_getattr`, which resolves
only HistoryBuffer's registered statistics methods. It also replaces mmengine's local-file
checkpoint loader with one that names the file and the remedy when a
checkpoint is missing, truncated or corrupt.
"""
import os.path as osp
import pickle
import zipfile

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader


#: The statistics methods HistoryBuffer registers by default (and pickles).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or holds unknown types."""


def _numpy_safe_globals():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtype_classes = [getattr(np.dtypes, n) for n in dir(np.dtypes)
                     if n.endswith('DType')] if hasattr(np, 'dtypes') else []
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtype_classes]


def history_buffer_getattr(obj, name: str):
    """``getattr`` for checkpoints, limited to ``HistoryBuffer`` statistics."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer '
        'statistics methods may be looked up while loading safely')


def allow_mmengine_checkpoints() -> None:
    """Allow-list the non-tensor types that mmengine's Runner saves, and
    install :func:`load_local_checkpoint` as the loader for local paths."""
    from mmengine.logging.history_buffer import HistoryBuffer
    torch.serialization.add_safe_globals([
        HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'),
        *_numpy_safe_globals()])
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_local_checkpoint)


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Load a local checkpoint with torch's safe unpickler.

    Args:
        filename (str): Path of the checkpoint.
        map_location (str | torch.device, optional): As in ``torch.load``.

    Returns:
        dict: The checkpoint.

    Raises:
        CheckpointError: naming the file when it is missing, truncated,
            corrupt, or holds types outside the allow-list.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise CheckpointError(f'Checkpoint not found: {filename}. Pass the path of a '
                              '.pth file written by training (see work_dirs/).')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f'Checkpoint {filename} holds objects that are not allowed to be '
            f'unpickled safely: {err}. If you trust the file, allow the type with '
            'torch.serialization.add_safe_globals([...]) before loading.') from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f'Checkpoint {filename} is truncated or corrupt ({err}). It was probably '
            'written by a run that was killed; use an earlier checkpoint.') from err
