"""On-disk progress of a scene run, so an interrupted run continues where it stopped.

After each finished strip the store holds, in ``<out_dir>/.infer_scene/``:

* ``strip_<i>.npz``: the strip's class map (and probabilities);
* ``carry_<i>.npz``: the stitching accumulator after strip ``i`` (the rows
  that later windows still add to);
* ``state.json``: the number of finished strips, the run's fingerprint and
  running statistics. It is replaced last and atomically, so it always names
  strips and a carry that are complete on disk.

A resumed run restores the accumulator bit for bit and processes the
remaining strips with the same batches, so its outputs are byte-identical to
those of an uninterrupted run (on the same software and hardware). A run
whose fingerprint (model, weights, inputs, options) differs starts afresh.
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, Iterator, Optional

import numpy as np

STATE_DIR = '.infer_scene'


def file_fingerprint(path: Optional[str]) -> Optional[list]:
    """Absolute path, size and modification time of a file."""
    if path is None:
        return None
    stat = os.stat(path)
    return [osp.abspath(path), stat.st_size, stat.st_mtime_ns]


def _atomic_savez(path: str, arrays: Dict[str, np.ndarray]) -> None:
    with open(path + '.tmp', 'wb') as f:
        np.savez(f, **arrays)
    os.replace(path + '.tmp', path)


class StripStore:
    """Finished strips and the resumable state of one scene run.

    Args:
        out_dir (str): The run's output directory.
        fingerprint (dict): JSON-serialisable description of the run; a
            stored state with another fingerprint is discarded.
    """

    def __init__(self, out_dir: str, fingerprint: dict):
        self.root = osp.join(out_dir, STATE_DIR)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.state = self._load_state()

    def _load_state(self) -> dict:
        path = osp.join(self.root, 'state.json')
        if osp.isfile(path):
            with open(path) as f:
                state = json.load(f)
            if state.get('fingerprint') == self.fingerprint:
                return state
            shutil.rmtree(self.root)
        os.makedirs(self.root, exist_ok=True)
        return dict(fingerprint=self.fingerprint, finished_strips=0, stats={})

    @property
    def finished_strips(self) -> int:
        return self.state['finished_strips']

    @property
    def stats(self) -> dict:
        return self.state['stats']

    def _path(self, kind: str, index: int) -> str:
        return osp.join(self.root, f'{kind}_{index:05d}.npz')

    def carry(self) -> Optional[Dict[str, np.ndarray]]:
        """The accumulator state saved with the last finished strip."""
        if not self.finished_strips:
            return None
        with np.load(self._path('carry', self.finished_strips - 1)) as data:
            return dict(data)

    def save_strip(self, index: int, outputs: Dict[str, np.ndarray],
                   carry: Dict[str, np.ndarray], stats: dict) -> None:
        """Store strip ``index``, the carry after it, then commit the state."""
        if index != self.finished_strips:
            raise RuntimeError(f'strip {index} saved after {self.finished_strips} strips')
        _atomic_savez(self._path('strip', index), outputs)
        _atomic_savez(self._path('carry', index), carry)
        self.state.update(finished_strips=index + 1, stats=stats)
        with open(osp.join(self.root, 'state.json.tmp'), 'w') as f:
            json.dump(self.state, f)
        os.replace(osp.join(self.root, 'state.json.tmp'), osp.join(self.root, 'state.json'))
        if index:
            os.remove(self._path('carry', index - 1))

    def strips(self) -> Iterator[Dict[str, np.ndarray]]:
        """The finished strips in order, one at a time."""
        for index in range(self.finished_strips):
            with np.load(self._path('strip', index)) as data:
                yield dict(data)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
