"""Safe loading of mmengine checkpoints: what is allowed, what is refused,
and the errors for missing / truncated files."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmcd_plugin  # noqa: F401
from mmcd_plugin.engine.checkpoint import CheckpointError, history_buffer_getattr


def runner_like_checkpoint(path):
    buffer = HistoryBuffer()
    buffer.update(0.5)
    buffer.update(1.5)
    torch.save(dict(meta=dict(iter=7, seed=np.int64(3), lr=np.float64(0.1)),
                    state_dict=dict(w=torch.arange(4.)),
                    message_hub=dict(log_scalars={'train/loss': buffer})), path)


def test_runner_like_checkpoint_loads_safely_with_values(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    runner_like_checkpoint(path)
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert checkpoint['meta']['iter'] == 7 and checkpoint['meta']['seed'] == 3
    assert checkpoint['message_hub']['log_scalars']['train/loss'].mean() == 1.0
    assert checkpoint['state_dict']['w'].tolist() == [0., 1., 2., 3.]


def test_restricted_getattr_refuses_everything_but_history_statistics():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='only HistoryBuffer'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='only HistoryBuffer'):
        history_buffer_getattr(torch, 'load')


def test_malicious_getattr_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')  # would reach a file-writing method
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': Evil()}, path)
    with pytest.raises(CheckpointError, match=r'evil.pth holds objects that are not allowed'):
        CheckpointLoader.load_checkpoint(path)


def test_missing_checkpoint_named(tmp_path):
    with pytest.raises(CheckpointError, match=r'Checkpoint not found: .*none.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'none.pth'))


def test_truncated_checkpoint_named(tmp_path):
    path = tmp_path / 'cut.pth'
    runner_like_checkpoint(str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r'cut.pth is truncated or corrupt'):
        CheckpointLoader.load_checkpoint(str(path))
