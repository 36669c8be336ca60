"""Robustness under faults.

In-process, on a toy model with mmengine's Runner: atomic writes, the
checkpoint bookkeeping of AtomicCheckpointHook, NonFiniteCheckHook,
RandomStateHook, the prefetching training loop and its background batch
iterator, and seeding of augmentation in data-loader workers.

Through the command-line tools, on the tiny config with LEVIR-CD's training
augmentation (crop, flip, rotation, temporal exchange, photometric distortion)
in 2 data-loader workers and deterministic mode: two clean
runs give identical weights and metrics; a run killed with SIGKILL mid-run and
one killed while writing a checkpoint both resume with ``--resume`` and end
with the clean run's weights, optimizer state and learning rate; corrupt
checkpoints give errors naming the file; a 2-process evaluation of a dataset
not divisible by batch x world size evaluates every sample exactly once.
"""
import glob
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, worker_init_fn
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, loops, save_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.runner.loops import _InfiniteDataloaderIterator
from test_tools import REPO, make_levir_layout

import mmcd_plugin  # noqa: F401
from mmcd_plugin.engine import (AtomicCheckpointHook, AtomicLocalBackend,
                                BackgroundBatchIterator, CheckpointError, NonFiniteCheckHook,
                                PrefetchingEpochBasedTrainLoop,
                                PrefetchingIterBasedTrainLoop, RandomStateHook,
                                atomic_file_backend, atomic_write, cached_train_mode)
from mmcd_plugin.registry import MODELS


# ----------------------------------------------------------------- atomic files
def fail_on_fsync(monkeypatch):
    """Make the next atomic write fail after its bytes went to the temp file."""
    def crash(fd):
        raise OSError('simulated crash before the rename')
    monkeypatch.setattr(atomic_file_backend.os, 'fsync', crash)


def test_atomic_write_replaces_whole_file_or_leaves_old_one(tmp_path, monkeypatch):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write(path, b'first version')
    assert path.read_bytes() == b'first version'
    assert os.listdir(tmp_path / 'sub') == ['f.bin']  # no temp file left behind
    fail_on_fsync(monkeypatch)
    with pytest.raises(OSError, match='simulated crash'):
        atomic_write(path, b'second, longer version')
    assert path.read_bytes() == b'first version'
    assert os.listdir(tmp_path / 'sub') == ['f.bin']  # the failed temp file is removed


def test_mmengine_save_checkpoint_goes_through_atomic_backend(tmp_path, monkeypatch):
    path = str(tmp_path / 'iter_3.pth')
    assert isinstance(get_file_backend(path), AtomicLocalBackend)
    save_checkpoint(dict(state_dict=dict(w=torch.ones(3))), path)
    assert torch.load(path)['state_dict']['w'].tolist() == [1., 1., 1.]
    fail_on_fsync(monkeypatch)
    with pytest.raises(OSError, match='simulated crash'):
        save_checkpoint(dict(state_dict=dict(w=torch.zeros(3))), path)
    assert torch.load(path)['state_dict']['w'].tolist() == [1., 1., 1.]


# ------------------------------------------------------------- toy Runner runs
class ToyRegressor(BaseModel):
    """y = w x through dropout; optionally NaN loss or NaN weight at one iteration."""

    def __init__(self, nan_loss_at=None, nan_weight_at=None):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.dropout = nn.Dropout(0.5)
        self.nan_loss_at, self.nan_weight_at = nan_loss_at, nan_weight_at
        self.calls = 0

    def forward(self, inputs, targets=None, mode='tensor'):
        pred = self.linear(self.dropout(torch.stack(inputs)))
        if mode == 'predict':
            return [dict(error=float((p - t).abs().sum())) for p, t in zip(pred, targets)]
        self.calls += 1
        loss = ((pred - torch.stack(targets)) ** 2).mean()
        if self.calls == self.nan_loss_at:
            loss = loss * float('nan')
        if self.calls == self.nan_weight_at:
            with torch.no_grad():
                self.linear.bias.fill_(float('inf'))
        return dict(loss_toy=loss)


class ToyData(torch.utils.data.Dataset):
    def __init__(self, n=8):
        rng = np.random.default_rng(0)
        self.x = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
        self.y = self.x @ torch.tensor([[1.], [-2.], [0.5], [3.]])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        # "augmentation" from numpy's global generator, as our transforms draw
        noise = torch.from_numpy(np.random.normal(scale=0.1, size=4).astype(np.float32))
        return dict(inputs=self.x[i] + noise, targets=self.y[i])


class ToyError(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results += [s['error'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(error=float(np.mean(results)))


def toy_runner(work_dir, length, checkpoint_hook, hooks=(), model=ToyRegressor, resume=False,
               name='toy', lr=0.05, by_epoch=False, loop=None, num_workers=0,
               persistent_workers=True, sampler='InfiniteSampler'):
    """``length`` iterations (validation every 2), or ``length`` epochs of 4
    iterations with ``by_epoch`` (validation every epoch); ``loop``: the
    training loop class of that kind (default: mmengine's); ``sampler``: the
    training sampler of the iteration-based loops."""
    torch.manual_seed(0)  # the model is built before the Runner seeds
    loader = dict(dataset=ToyData(), batch_size=2, num_workers=num_workers,
                  persistent_workers=persistent_workers and num_workers > 0,
                  sampler=dict(type='DefaultSampler' if by_epoch else sampler, shuffle=True))
    train_cfg = dict(max_epochs=length, val_interval=1) if by_epoch else \
        dict(max_iters=length, val_interval=2)
    train_cfg.update(dict(type=loop) if loop else dict(by_epoch=by_epoch))
    return Runner(
        model=model(), work_dir=str(work_dir),
        experiment_name=f'{name}_{time.monotonic_ns()}',
        train_dataloader=loader,
        val_dataloader=dict(loader, num_workers=0, persistent_workers=False,
                            sampler=dict(type='DefaultSampler', shuffle=False)),
        val_evaluator=[ToyError(prefix='toy')], val_cfg=dict(),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9)),
        param_scheduler=dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=6),
        default_hooks=dict(checkpoint=checkpoint_hook, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(hooks), randomness=dict(seed=3),
        resume=resume, default_scope='mmengine')


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class RandomStateHookWithoutValGuard(RandomStateHook):
    """The hook minus its validation part (a control)."""

    def before_val(self, runner):
        pass

    def after_val(self, runner):
        pass


@pytest.mark.parametrize('by_epoch, hook, exact', [
    (False, RandomStateHook, True), (False, None, False),
    (False, RandomStateHookWithoutValGuard, False),
    (True, RandomStateHook, True), (True, None, False)])
def test_random_state_hook_makes_resumed_training_exact(tmp_path, by_epoch, hook, exact):
    """Train 6 iterations (3 epochs) at once, or 2 (1) and then --resume;
    validation right after each checkpoint. Dropout draws from torch's
    generator, the toy augmentation from numpy's, validation consumes torch's:
    the resumed run reproduces the weights only with the whole hook."""
    clean, resumed = clean_and_resumed_weights(tmp_path, by_epoch, [hook] if hook else [])
    assert torch.equal(clean['linear.weight'], resumed['linear.weight']) == exact
    if exact:
        assert_same_tensors(clean, resumed)


def clean_and_resumed_weights(tmp_path, by_epoch, hook_types, **runner_args):
    """The final weights of 6 iterations (3 epochs) trained at once and of 2
    (1) trained, then resumed to the end; a checkpoint at the end of each
    run, validation right after each checkpoint."""
    def hooks():
        return [hook() for hook in hook_types]

    def checkpoint_every(n):
        return CheckpointHook(interval=n, by_epoch=by_epoch)

    tag = '_'.join(hook.__name__ for hook in hook_types) or 'none'
    first, total = (1, 3) if by_epoch else (2, 6)
    clean, split = tmp_path / 'clean', tmp_path / 'split'
    toy_runner(clean, total, checkpoint_every(total), hooks(), name=tag,
               by_epoch=by_epoch, **runner_args).train()
    toy_runner(split, first, checkpoint_every(first), hooks(), name=tag,
               by_epoch=by_epoch, **runner_args).train()
    toy_runner(split, total, checkpoint_every(first), hooks(), resume=True, name=tag,
               by_epoch=by_epoch, **runner_args).train()
    name = f'epoch_{total}.pth' if by_epoch else f'iter_{total}.pth'
    return weights(clean / name), weights(split / name)


def crash_saving(monkeypatch, filename):
    real_write = atomic_file_backend.atomic_write

    def write(path, data):
        if str(path).endswith(filename):
            raise OSError(f'simulated crash while saving {filename}')
        real_write(path, data)
    monkeypatch.setattr(atomic_file_backend, 'atomic_write', write)


@pytest.mark.parametrize('hook_type', [CheckpointHook, AtomicCheckpointHook])
def test_crash_during_save_with_max_keep_one(tmp_path, monkeypatch, hook_type):
    """With max_keep_ckpts=1 the stock hook deletes iter_1.pth before writing
    iter_2.pth; a crash in between leaves nothing to resume from."""
    runner = toy_runner(tmp_path, 2, hook_type(interval=1, by_epoch=False, max_keep_ckpts=1))
    crash_saving(monkeypatch, 'iter_2.pth')
    with pytest.raises(OSError, match='simulated crash'):
        runner.train()
    pointer = (tmp_path / 'last_checkpoint').read_text()
    assert pointer.endswith('iter_1.pth')
    assert not (tmp_path / 'iter_2.pth').exists()
    assert osp.isfile(pointer) == (hook_type is AtomicCheckpointHook)


def test_atomic_checkpoint_hook_pointer_survives_a_crash_while_it_is_written(
        tmp_path, monkeypatch):
    """Iteration 2's checkpoint is saved, then the process dies while
    last_checkpoint is rewritten."""
    if not osp.isdir('/proc/self/fd'):
        pytest.skip('needs /proc/self/fd (Linux)')
    real_fsync = os.fsync

    def crash_on_pointer(fd):
        name = osp.basename(os.readlink(f'/proc/self/fd/{fd}'))
        if name.startswith('last_checkpoint.') and (tmp_path / 'iter_2.pth').is_file():
            raise OSError('simulated crash while writing last_checkpoint')
        real_fsync(fd)
    monkeypatch.setattr(atomic_file_backend.os, 'fsync', crash_on_pointer)
    runner = toy_runner(tmp_path, 2, AtomicCheckpointHook(interval=1, by_epoch=False,
                                                          max_keep_ckpts=1))
    with pytest.raises(OSError, match='simulated crash while writing last_checkpoint'):
        runner.train()
    # the pointer still names the previous checkpoint, which was not yet removed
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_1.pth')
    assert (tmp_path / 'iter_1.pth').is_file() and (tmp_path / 'iter_2.pth').is_file()


def test_atomic_checkpoint_hook_keeps_the_newest_and_points_at_it(tmp_path):
    toy_runner(tmp_path, 6, AtomicCheckpointHook(interval=2, by_epoch=False,
                                                 max_keep_ckpts=2)).train()
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == [
        'iter_4.pth', 'iter_6.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_6.pth')
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.partial')]


def test_non_finite_loss_stops_before_checkpoint_of_that_iteration(tmp_path):
    runner = toy_runner(tmp_path, 6, AtomicCheckpointHook(interval=1, by_epoch=False),
                        [NonFiniteCheckHook()], model=partial(ToyRegressor, nan_loss_at=3))
    with pytest.raises(FloatingPointError) as error:
        runner.train()
    message = str(error.value)
    assert 'iteration 3: loss term loss_toy = nan' in message
    assert f'last good checkpoint {tmp_path / "iter_2.pth"} is untouched' in message
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_3.pth').exists()
    assert torch.isfinite(weights(tmp_path / 'iter_2.pth')['linear.weight']).all()


def test_non_finite_weights_are_never_saved(tmp_path):
    """A finite loss with a step that makes a weight infinite: the save of that
    iteration is refused, naming the weight."""
    runner = toy_runner(tmp_path, 6, CheckpointHook(interval=2, by_epoch=False),
                        [NonFiniteCheckHook(interval=100)],
                        model=partial(ToyRegressor, nan_weight_at=4))
    with pytest.raises(FloatingPointError, match=r'iteration 4: weight linear.bias \(checkpoint '
                                                 r'not saved\)'):
        runner.train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_4.pth').exists()


def test_non_finite_learning_rate_is_named(tmp_path):
    runner = toy_runner(tmp_path, 2, CheckpointHook(interval=2, by_epoch=False),
                        [NonFiniteCheckHook()], lr=float('inf'))
    with pytest.raises(FloatingPointError, match=r'iteration 1: learning rate lr\[0\] = inf'):
        runner.train()


# ------------------------------------------------------- mode-cached train loop
class FrozenPartModel(nn.Module):
    """A trainable head and a part that its ``train()`` keeps in eval mode
    (as a frozen encoder's), counting the walks over the module tree."""

    def __init__(self):
        super().__init__()
        self.head, self.frozen = nn.Dropout(0.5), nn.BatchNorm1d(2)
        self.walks = 0

    def train(self, mode=True):
        self.walks += 1
        super().train(mode)
        self.frozen.eval()
        return self


def test_cached_train_mode_walks_the_tree_only_when_the_mode_changes():
    model = FrozenPartModel()
    with cached_train_mode(model):
        assert model.train() is model and model.train() is model
        assert model.walks == 1
        assert model.training and model.head.training and not model.frozen.training
        model.eval()
        model.eval()
        assert model.walks == 2 and not model.training and not model.head.training
        model.train(True)
        assert model.walks == 3 and model.head.training and not model.frozen.training
    assert 'train' not in vars(model)  # the class's own method again
    model.train()
    assert model.walks == 4


class ModeRecordingRegressor(ToyRegressor):
    """Records (forward mode, model mode, dropout mode) at each call."""

    def __init__(self):
        super().__init__()
        self.walks, self.seen = 0, []

    def train(self, mode=True):
        self.walks += 1
        return super().train(mode)

    def forward(self, inputs, targets=None, mode='tensor'):
        self.seen.append((mode, self.training, self.dropout.training))
        return super().forward(inputs, targets, mode)


def test_prefetching_loop_walks_the_module_tree_only_when_the_mode_changes(tmp_path):
    """6 iterations with validation after 2, 4 and 6: the same weights (the
    dropout masks need training mode), training mode in every training
    forward and eval mode in every validation forward; mmengine's loop walks
    the tree before each of the 6 iterations and at each of the 3
    validations, ours at the first iteration, at the 3 validations and after
    the first 2 of them."""
    runs = {}
    for name, loop in (('mmengine', None), ('cached', PrefetchingIterBasedTrainLoop)):
        runner = toy_runner(tmp_path / name, 6, CheckpointHook(interval=6, by_epoch=False),
                            model=ModeRecordingRegressor, loop=loop, name=name)
        runner.train()
        model = runner.model
        runs[name] = (model.walks, weights(tmp_path / name / 'iter_6.pth'), model.seen)
    assert runs['mmengine'][0] == 9 and runs['cached'][0] == 6
    assert_same_tensors(runs['mmengine'][1], runs['cached'][1])
    seen = runs['cached'][2]
    assert seen == runs['mmengine'][2]
    assert [m for m in seen if m[0] == 'loss'] == [('loss', True, True)] * 6
    assert [m for m in seen if m[0] == 'predict'] == [('predict', False, False)] * 12


class IndexData(torch.utils.data.Dataset):
    """Sample i is (i, a draw from the worker's seeded numpy generator); sample
    ``broken`` raises."""

    def __init__(self, n, broken=None):
        self.n, self.broken = n, broken

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.broken:
            raise ValueError(f'broken sample {i}')
        return torch.tensor([i, np.random.randint(1000)])


class ThreadRecordingSampler(DefaultSampler):
    """Records the thread each epoch's order is drawn in."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads = []

    def __iter__(self):
        self.threads.append(threading.current_thread().name)
        return super().__iter__()


def worker_loader(dataset, shuffle=True):
    """A 2-worker loader: shuffled batches of 3, or single samples in order."""
    torch.manual_seed(0)
    sampler = ThreadRecordingSampler(dataset, shuffle=shuffle, seed=0)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=3 if shuffle else 1, sampler=sampler, num_workers=2,
        persistent_workers=True, worker_init_fn=partial(worker_init_fn, num_workers=2, rank=0,
                                                        seed=0))
    return loader, sampler


def endless_loader(dataset, shuffle=True):
    """mmengine's endless iterator over a :func:`worker_loader`."""
    loader, sampler = worker_loader(dataset, shuffle)
    return _InfiniteDataloaderIterator(loader), sampler


def outcomes(iterator, n):
    """The first ``n`` batches as lists, an error as its message."""
    seen = []
    for _ in range(n):
        try:
            seen.append(next(iterator).tolist())
        except ValueError as error:
            seen.append(str(error).splitlines()[-1])
    return seen


@pytest.fixture
def no_epoch_pause(monkeypatch):
    """mmengine sleeps 2 s at each restart of an endless loader."""
    monkeypatch.setattr(loops, 'time', SimpleNamespace(sleep=lambda seconds: None))


def test_background_iterator_gives_the_plain_batches_across_epochs(no_epoch_pause):
    """7 samples in batches of 3 (3 batches an epoch, reshuffled each epoch),
    8 batches: the same batches and augmentation draws as the plain
    iterator, the two epoch restarts done by the calling thread, and torch's
    generator where the plain iterator leaves it."""
    plain, plain_sampler = endless_loader(IndexData(7))
    expected = outcomes(plain, 8)
    plain_rng = torch.get_rng_state()
    source, sampler = endless_loader(IndexData(7))
    background = BackgroundBatchIterator.endless(source)
    assert outcomes(background, 8) == expected
    assert torch.equal(torch.get_rng_state(), plain_rng)
    assert source._epoch == plain._epoch == 2 and sampler.epoch == 2
    assert sampler.threads == plain_sampler.threads == ['MainThread'] * 3
    assert expected[0] != expected[3]  # the epochs are reshuffled
    assert sorted(i for batch in expected[:3] for i, _ in batch) == list(range(7))
    background.close()


def test_background_iterator_raises_a_batch_error_at_that_batch():
    """Sample 3 of 6 raises in its worker: like the plain iterator, ``next``
    gives samples 0-2, raises with the sample's message, then goes on."""
    plain = outcomes(endless_loader(IndexData(6, broken=3), shuffle=False)[0], 5)
    background = BackgroundBatchIterator.endless(
        endless_loader(IndexData(6, broken=3), shuffle=False)[0])
    seen = outcomes(background, 5)
    assert seen == plain
    assert [batch[0][0] if isinstance(batch, list) else batch for batch in seen] == \
        [0, 1, 2, 'ValueError: broken sample 3', 4]
    background.close()


def test_background_iterator_over_one_epoch_gives_that_epoch_and_stops():
    """Two epochs of 7 samples in batches of 3 through ``one_epoch``: each
    the plain loader's epoch (with its augmentation draws), then the end of
    the iteration; each epoch's order drawn in the calling thread, and
    torch's generator where the plain epochs leave it."""
    def two_epochs(epoch_of):
        loader, sampler = worker_loader(IndexData(7))
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            epochs.append([batch.tolist() for batch in epoch_of(loader)])
        return epochs, sampler.threads, torch.get_rng_state()

    plain = two_epochs(iter)
    background = two_epochs(BackgroundBatchIterator.one_epoch)
    assert background[:2] == plain[:2] == (plain[0], ['MainThread'] * 2)
    assert torch.equal(background[2], plain[2])
    assert [len(epoch) for epoch in plain[0]] == [3, 3] and plain[0][0] != plain[0][1]
    assert sorted(i for batch in plain[0][1] for i, _ in batch) == list(range(7))
    assert 'BackgroundBatchIterator' not in [t.name for t in threading.enumerate()]


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_background_iterator_fetches_when_asked_and_close_stops_it():
    """The thread takes a batch from the loader only when asked (``next``
    with none asked for asks and waits); ``close`` stops it and drops the
    batch it holds."""
    source = endless_loader(IndexData(7))[0]
    background = BackgroundBatchIterator.endless(source)
    first = next(background)
    time.sleep(0.3)
    assert source._iterator._num_yielded == 1  # nothing fetched ahead unasked
    background.fetch_ahead()
    background.fetch_ahead()  # depth 1: still one batch ahead
    assert wait_for(lambda: background._results.qsize() == 1)
    assert source._iterator._num_yielded == 2
    second = next(background)
    assert not torch.equal(first, second)
    background.fetch_ahead()
    assert wait_for(lambda: background._results.qsize() == 1)
    background.close()
    assert 'BackgroundBatchIterator' not in [t.name for t in threading.enumerate()]
    assert background._results.empty() and source._iterator._num_yielded == 3


class FetcherRecordingHook(Hook):
    """Records, before each step, the loop's fetcher and how many batches
    it has been asked for (the next one, once the step has begun)."""

    def __init__(self):
        self.types = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        fetcher = getattr(runner.train_loop, '_fetcher', None)
        self.types.append((type(fetcher).__name__, getattr(fetcher, '_asked', None)))


@pytest.mark.parametrize('num_workers, fetcher', [
    (2, ('BackgroundBatchIterator', 1)), (0, ('NoneType', None))])
def test_prefetching_loop_trains_as_mmengine_loop(tmp_path, no_epoch_pause, num_workers,
                                                  fetcher):
    """6 iterations of 4-batch epochs (one restart of the loader), the toy
    augmentation drawn in the workers, dropout in the model: the weights of
    mmengine's loop; batches come through the background thread only with
    workers, the next one asked for when each step starts, and the loop
    holds mmengine's iterator again afterwards."""
    runs = {}
    for name, loop in (('mmengine', None), ('prefetching', PrefetchingIterBasedTrainLoop)):
        hook = FetcherRecordingHook()
        runner = toy_runner(tmp_path / name, 6, CheckpointHook(interval=6, by_epoch=False),
                            [hook], loop=loop, name=name, num_workers=num_workers,
                            sampler='DefaultSampler')
        runner.train()
        runs[name] = weights(tmp_path / name / 'iter_6.pth'), hook.types
        assert type(runner.train_loop.dataloader_iterator) is _InfiniteDataloaderIterator
        assert runner.train_loop.dataloader_iterator._epoch == 1
    assert_same_tensors(runs['mmengine'][0], runs['prefetching'][0])
    assert runs['prefetching'][1] == [fetcher] * 6
    assert 'BackgroundBatchIterator' not in [t.name for t in threading.enumerate()]


@pytest.mark.parametrize('num_workers, fetcher', [
    (2, ('BackgroundBatchIterator', 1)), (0, ('NoneType', None))])
def test_prefetching_epoch_loop_trains_as_mmengine_loop(tmp_path, num_workers, fetcher):
    """3 epochs of 4 iterations, validation after each, the toy augmentation
    drawn in the workers, dropout in the model: the weights of mmengine's
    epoch loop; batches come through the background thread (one per epoch)
    only with workers, the next one asked for when each step starts, and no
    thread is left."""
    runs = {}
    for name, loop in (('mmengine', None), ('prefetching', PrefetchingEpochBasedTrainLoop)):
        hook = FetcherRecordingHook()
        runner = toy_runner(tmp_path / name, 3, CheckpointHook(interval=3), [hook], loop=loop,
                            name=name, num_workers=num_workers, by_epoch=True)
        runner.train()
        runs[name] = weights(tmp_path / name / 'epoch_3.pth'), hook.types
    assert_same_tensors(runs['mmengine'][0], runs['prefetching'][0])
    assert runs['prefetching'][1] == [fetcher] * 12
    assert 'BackgroundBatchIterator' not in [t.name for t in threading.enumerate()]


def persistent_worker_warnings(work_dir):
    """How many times the runs under ``work_dir`` logged the random-state
    hook's warning about persistent workers."""
    logs = glob.glob(osp.join(str(work_dir), '**', '*.log'), recursive=True)
    assert logs
    return sum(open(log).read().count('persistent_workers=True. The augmentation')
               for log in logs)


@pytest.mark.parametrize('persistent', [False, True])
def test_prefetching_epoch_loop_resumes_to_the_weights_of_a_clean_run(tmp_path, persistent):
    """With 2 workers and the random-state hook, 1 epoch and --resume for 2
    more end with the weights of 3 epochs trained at once. With persistent
    workers they cannot (the workers' generators run on across epochs in the
    clean run, the resumed run starts new ones; mmengine's loop is no
    different), and the resumed run says so, once."""
    clean, resumed = clean_and_resumed_weights(tmp_path, True, [RandomStateHook],
                                               loop=PrefetchingEpochBasedTrainLoop,
                                               num_workers=2, persistent_workers=persistent)
    assert torch.equal(clean['linear.weight'], resumed['linear.weight']) != persistent
    if not persistent:
        assert_same_tensors(clean, resumed)
    assert persistent_worker_warnings(tmp_path / 'split') == int(persistent)
    assert persistent_worker_warnings(tmp_path / 'clean') == 0


def test_default_runtime_enables_the_health_and_random_state_hooks():
    cfg = Config.fromfile(osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'))
    assert [h['type'] for h in cfg.custom_hooks] == ['NonFiniteCheckHook', 'RandomStateHook']


# --------------------------------------------------- seeding in loader workers
def first_batches(config_path, seed, n=4):
    """The first augmented training batches of the config, with 2 workers."""
    cfg = Config.fromfile(config_path)
    with DefaultScope.overwrite_default_scope('mmcd_plugin'):
        loader = Runner.build_dataloader(cfg.train_dataloader.to_dict(), seed=seed)
    assert loader.num_workers == 2
    return [torch.stack(batch['inputs']) for _, batch in zip(range(n), loader)]


def test_augmentation_in_workers_follows_the_seed(experiment_config):
    """Crops, flips, rotations, temporal exchange and photometric distortion
    run in 2 worker processes: the same seed repeats them exactly, another
    seed changes them."""
    same = [first_batches(experiment_config['config'], 0) for _ in range(2)]
    other = first_batches(experiment_config['config'], 1)
    assert all(torch.equal(a, b) for a, b in zip(*same))
    assert not any(torch.equal(a, b) for a, b in zip(same[0], other))


# ------------------------------------------------------- command-line tools
#: The tiny config with LEVIR-CD's full training augmentation, 2 loader workers,
#: deterministic mode, 12 iterations, validation and checkpoints every 4.
EXPERIMENT_CONFIG = """
_base_ = [{base!r}]
train_pipeline = {pipeline!r}
train_dataloader = dict(num_workers=2, persistent_workers=True,
                        dataset=dict(data_root={root!r} + '/train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root={root!r} + '/val'))
test_dataloader = dict(dataset=dict(data_root={root!r} + '/test'))
randomness = dict(seed=0, deterministic=True)
train_cfg = dict(max_iters=12, val_interval=4)
param_scheduler = [dict(type='PolyLR', power=0.9, begin=0, end=12, by_epoch=False)]
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=4))
"""

#: Runs tools/train.py, but SIGKILLs the process while it writes the checkpoint
#: named in $KILL_DURING_SAVE: after half of its bytes reached the temp file
#: (the fsync of that file truncates it to half, then the process kills itself).
KILL_DURING_SAVE = """
import os, runpy, signal, sys
real_fsync = os.fsync
target = f"/{os.environ['KILL_DURING_SAVE']}.{os.getpid()}.partial"

def fsync_or_die(fd):
    if os.readlink(f'/proc/self/fd/{fd}').endswith(target):
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)

os.fsync = fsync_or_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""

TOOL_ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def start_tool(args, log_path, wrapper=None, env=None):
    prefix = [sys.executable] + (['-c', wrapper] if wrapper else [])
    with open(log_path, 'w') as log:
        return subprocess.Popen(prefix + args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **TOOL_ENV, **(env or {})))


def finish(proc, log_path, expect_rc=0, timeout=300):
    rc = proc.wait(timeout=timeout)
    log = open(log_path).read()
    assert rc == expect_rc, f'exit {rc}, expected {expect_rc}:\n{log[-3000:]}'
    return log


def kill_when_logged(proc, log_path, line, timeout=300):
    """SIGKILL ``proc`` as soon as its log shows ``line`` (it trains on meanwhile)."""
    deadline = time.monotonic() + timeout
    while line not in open(log_path).read():
        assert proc.poll() is None, f'run ended before logging {line}'
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)


def val_metrics(log):
    """The metrics of every validation in a training log, in order."""
    lines = re.findall(r'Iter\(val\) \[\d+/\d+\] +(\w.*)', log)
    pairs = [dict(re.findall(r'([\w.]+): (-?\d+\.\d+)', line)) for line in lines]
    metrics = [{k: v for k, v in p.items() if k not in ('data_time', 'time')} for p in pairs]
    return [m for m in metrics if m]  # progress lines carry times only


def levir_cd_train_pipeline(crop_size):
    """LEVIR-CD's training pipeline (random crop, flip, rotation, temporal
    exchange, photometric distortion) with another crop size."""
    pipeline = Config.fromfile(
        osp.join(REPO, 'configs/_base_/datasets/levir_cd.py')).to_dict()['train_pipeline']
    for transform in pipeline:
        if transform['type'] == 'PairedRandomCrop':
            transform['crop_size'] = crop_size
    assert [t['type'] for t in pipeline].count('TemporalExchange') == 1
    return pipeline


@pytest.fixture(scope='module')
def experiment_config(tmp_path_factory):
    """96 x 96 LEVIR-CD-like tiles (5 per split) and the tiny config on them."""
    root = str(tmp_path_factory.mktemp('robust'))
    make_levir_layout(root, n=5, size=96)
    config = osp.join(root, 'experiment.py')
    with open(config, 'w') as f:
        f.write(EXPERIMENT_CONFIG.format(
            base=osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'), root=root,
            pipeline=levir_cd_train_pipeline(crop_size=(64, 64))))
    return dict(root=root, config=config)


@pytest.fixture(scope='module')
def experiment(experiment_config):
    """Two clean runs, one killed mid-run and one killed while saving
    iter_8.pth, both then resumed; all started together, 12 iterations each."""
    if not osp.isdir('/proc/self/fd'):
        pytest.skip('the kill-during-save wrapper reads /proc/self/fd (Linux)')
    root, config = experiment_config['root'], experiment_config['config']
    work = {name: osp.join(root, name) for name in ('clean', 'rerun', 'killed', 'killed_in_save')}
    logs = {name: osp.join(root, name + '.log') for name in work}

    def train(name, **kwargs):
        return start_tool(['tools/train.py', config, '--work-dir', work[name]], logs[name],
                          **kwargs)

    running = {name: train(name) for name in ('clean', 'rerun')}
    running['killed_in_save'] = train('killed_in_save', wrapper=KILL_DURING_SAVE,
                                      env=dict(KILL_DURING_SAVE='iter_8.pth'))
    killed = train('killed')
    kill_when_logged(killed, logs['killed'], 'Iter(train) [ 6/12]')  # after iter_4.pth
    result = dict(config=config, root=root, work=work)
    result['killed_rc'] = killed.wait(timeout=60)
    result['killed_rc_in_save'] = running['killed_in_save'].wait(timeout=300)
    for name in ('killed', 'killed_in_save'):
        pointer = open(osp.join(work[name], 'last_checkpoint')).read()
        result[f'{name}_pointer'] = pointer
        result[f'{name}_files'] = sorted(os.listdir(work[name]))
        logs[name + '_resumed'] = logs[name] + '.resumed'
        running[name + '_resumed'] = start_tool(
            ['tools/train.py', config, '--work-dir', work[name], '--resume'],
            logs[name + '_resumed'])
    for name, proc in running.items():
        if name != 'killed_in_save':
            result[name + '_log'] = finish(proc, logs[name])
    return result


def test_two_clean_runs_are_identical(experiment):
    work = experiment['work']
    assert_same_tensors(weights(osp.join(work['clean'], 'iter_12.pth')),
                        weights(osp.join(work['rerun'], 'iter_12.pth')))
    clean = val_metrics(experiment['clean_log'])
    assert len(clean) == 3 and {'F1', 'IoU', 'OA'} <= clean[0].keys()  # iterations 4, 8, 12
    assert any(float(m['F1']) > 0 for m in clean)
    assert clean == val_metrics(experiment['rerun_log'])


def checkpoint_state(path):
    checkpoint = torch.load(path, map_location='cpu')
    return (checkpoint['meta']['iter'], checkpoint['state_dict'], checkpoint['optimizer'],
            checkpoint['param_schedulers'], checkpoint['message_hub']['log_scalars'])


def assert_same_end_state(work_a, work_b):
    iter_a, weights_a, optim_a, sched_a, scalars_a = checkpoint_state(
        osp.join(work_a, 'iter_12.pth'))
    iter_b, weights_b, optim_b, sched_b, scalars_b = checkpoint_state(
        osp.join(work_b, 'iter_12.pth'))
    assert iter_a == iter_b == 12
    assert_same_tensors(weights_a, weights_b)
    for key, state in optim_a['state'].items():
        assert_same_tensors(state, optim_b['state'][key])
    assert optim_a['param_groups'] == optim_b['param_groups']  # lr included
    assert sched_a == sched_b
    for key in ('train/lr', 'train/loss'):  # the whole logged history
        assert all(np.array_equal(a, b) for a, b in zip(scalars_a[key].data, scalars_b[key].data))


def test_run_killed_mid_run_resumes_to_the_same_weights(experiment):
    assert experiment['killed_rc'] == -signal.SIGKILL
    files = experiment['killed_files']
    assert 'iter_12.pth' not in files and 'iter_4.pth' in files  # killed mid-run
    step = int(re.search(r'iter_(\d+)\.pth$', experiment['killed_pointer']).group(1))
    assert step in (4, 8)
    assert f'resumed epoch: 0, iter: {step}' in experiment['killed_resumed_log']
    assert f'Advance dataloader {step} steps' in experiment['killed_resumed_log']
    assert_same_end_state(experiment['work']['clean'], experiment['work']['killed'])
    resumed = val_metrics(experiment['killed_resumed_log'])
    assert len(resumed) == (12 - step) // 4
    assert val_metrics(experiment['clean_log'])[-len(resumed):] == resumed


def test_run_killed_while_saving_resumes_from_last_complete_checkpoint(experiment):
    assert experiment['killed_rc_in_save'] == -signal.SIGKILL
    work = experiment['work']['killed_in_save']
    files = experiment['killed_in_save_files']
    # the kill came while iter_8.pth was half written: only its temp file exists
    partial = [f for f in files if re.fullmatch(r'iter_8\.pth\.\d+\.partial', f)]
    assert 'iter_8.pth' not in files and len(partial) == 1
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        CheckpointLoader.load_checkpoint(osp.join(work, partial[0]))
    assert experiment['killed_in_save_pointer'] == osp.join(work, 'iter_4.pth')
    assert 'resumed epoch: 0, iter: 4' in experiment['killed_in_save_resumed_log']
    assert_same_end_state(experiment['work']['clean'], work)


def test_truncated_checkpoint_is_named_by_test_and_resume(experiment, tmp_path):
    work = str(tmp_path / 'work')
    os.makedirs(work)
    truncated = osp.join(work, 'iter_12.pth')
    with open(osp.join(experiment['work']['clean'], 'iter_12.pth'), 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 3])
    # --resume without a path follows last_checkpoint to the file
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(truncated)
    logs = [str(tmp_path / 'test.log'), str(tmp_path / 'resume.log')]
    procs = [start_tool(['tools/test.py', experiment['config'], truncated, '--work-dir',
                         str(tmp_path / 'test_work')], logs[0]),
             start_tool(['tools/train.py', experiment['config'], '--work-dir', work,
                         '--resume'], logs[1])]
    for proc, log in zip(procs, logs):
        assert f'CheckpointError: Checkpoint {truncated} is truncated or corrupt' in \
            finish(proc, log, expect_rc=1)


# --------------------------------------------------- distributed evaluation
SAMPLE_COUNT_METRIC = """
import collections, json, os.path as osp
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmcd_plugin.registry import METRICS


@METRICS.register_module()
class SampleCountMetric(BaseMetric):
    '''Counts how often each sample reaches compute_metrics (after mmengine
    gathered the ranks' results); logs what each rank processed.'''

    def __init__(self, out_dir, **kwargs):
        super().__init__(**kwargs)
        self.out_dir = out_dir

    def process(self, data_batch, data_samples):
        names = [osp.basename(s['img_path'][0]) for s in data_samples]
        with open(osp.join(self.out_dir, f'rank{get_rank()}.txt'), 'a') as f:
            f.writelines(name + '\\n' for name in names)
        self.results += names

    def compute_metrics(self, results):
        with open(osp.join(self.out_dir, 'evaluated.json'), 'w') as f:
            json.dump(collections.Counter(results), f)
        return dict(evaluated=len(results))
"""


def random_init_checkpoint(config, path):
    """A checkpoint of the config's model as built (no training needed to count)."""
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmcd_plugin'):
        model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)


def test_two_process_evaluation_counts_every_sample_once(experiment_config, tmp_path):
    """7 test tiles, batch 2, 2 ranks: the sampler pads to 8 and one tile is
    processed twice; mmengine's collect_results must drop the duplicate."""
    root = str(tmp_path)
    make_levir_layout(root, n=7, size=64, seed=5)
    with open(osp.join(root, 'sample_count_metric.py'), 'w') as f:
        f.write(SAMPLE_COUNT_METRIC)
    config = osp.join(root, 'count.py')
    with open(config, 'w') as f:
        f.write(f'_base_ = [{experiment_config["config"]!r}]\n'
                "custom_imports = dict(imports=['sample_count_metric'], "
                'allow_failed_imports=False)\n'
                f'test_dataloader = dict(batch_size=2, dataset=dict(data_root={root!r} + '
                "'/test'))\n"
                f"test_evaluator = dict(type='SampleCountMetric', out_dir={root!r})\n")
    ckpt = osp.join(root, 'model.pth')
    random_init_checkpoint(experiment_config['config'], ckpt)
    proc = subprocess.run(
        ['bash', 'tools/dist_test.sh', config, ckpt, '2', '--work-dir', osp.join(root, 'w')],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, **TOOL_ENV, PORT='29531', PYTHON=sys.executable,
                 PYTHONPATH=os.pathsep.join([root, os.environ.get('PYTHONPATH', '')])))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    processed = [open(osp.join(root, f'rank{r}.txt')).read().split() for r in (0, 1)]
    assert [len(p) for p in processed] == [4, 4]  # 7 tiles padded to 8
    everything = sorted(processed[0] + processed[1])
    assert len(set(everything)) == 7 and len(everything) == 8
    with open(osp.join(root, 'evaluated.json')) as f:
        evaluated = json.load(f)
    assert evaluated == {f'{i}.png': 1 for i in range(7)}
    assert 'evaluated: 7' in proc.stdout + proc.stderr
