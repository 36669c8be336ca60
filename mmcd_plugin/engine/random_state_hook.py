"""Give a resumed training run the random numbers of an uninterrupted one."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from mmcd_plugin.registry import HOOKS


def torch_random_state() -> dict:
    """States of torch's CPU generator and, where present, the CUDA ones."""
    state = dict(cpu=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_torch_random_state(state: dict) -> None:
    """Inverse of :func:`torch_random_state`; CUDA states are restored when
    the run has as many devices as the saved one."""
    torch.set_rng_state(state['cpu'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def random_state() -> dict:
    """States of every generator the training process draws from."""
    return dict(torch=torch_random_state(), numpy=np.random.get_state(),
                python=random.getstate())


def set_random_state(state: dict, data_side: bool = True) -> None:
    """Inverse of :func:`random_state`; ``data_side=False`` leaves numpy and
    ``random`` (the augmentation generators) alone."""
    set_torch_random_state(state['torch'])
    if data_side:
        np.random.set_state(state['numpy'])
        random.setstate(state['python'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make training with ``--resume`` draw the random numbers an
    uninterrupted run draws, so both end with the same weights.

    What mmengine already restores: the model, optimizer, parameter
    schedulers, message hub and the epoch / iteration counters. The sampler
    order follows the seed (and the epoch). Augmentation (crops, flips,
    temporal exchange: numpy / ``random``) draws in each data-loader worker
    from generators mmengine's ``worker_init_fn`` seeds with
    ``seed + num_workers * rank + worker_id``, or, with ``num_workers=0``, from
    the training process's generators.

    What it does not, and this hook adds:

    1. The generators of the training process. Their states (torch's CPU and
       CUDA generators, which the model draws from for dropout and drop path;
       numpy; ``random``) are stored as ``checkpoint['random_state']`` and
       set back where the uninterrupted run stood:

       - ``IterBasedTrainLoop`` replays a fresh data loader past the trained
         batches, which reproduces the augmentation draws by itself; only
         torch's state is set, just before the first resumed iteration (after
         the replay, which must not see it).
       - ``EpochBasedTrainLoop`` (checkpoints at epoch ends) starts the next
         epoch without a replay; all states are set just before it.
    2. Validation inside training draws from the generators too (each
       validation data-loader iterator takes a base seed from torch's
       generator), so a run that validated right after the checkpoint and one
       resumed from it would diverge. Every generator is saved before
       validation and restored after it: validation does not perturb the
       training stream.

    Not covered: persistent data-loader workers under an epoch-based loop
    (their streams run on across epochs, a resumed run starts new workers;
    a resume of such a run logs a warning that says so and what to set),
    and, in distributed runs with ``randomness.diff_rank_seed=True``, the
    ranks other than 0 (the checkpoint holds rank 0's states).
    """

    def __init__(self) -> None:
        self._saved: Optional[dict] = None
        self._state_before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['random_state'] = random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'random_state' in checkpoint:
            self._saved = dict(checkpoint['random_state'], **checkpoint.get('meta', {}))

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop) and \
                self._restore(runner, data_side=True):
            warn_if_persistent_workers(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._restore(runner, data_side=False)

    def _restore(self, runner, data_side: bool) -> bool:
        """Set the saved states if this is where the checkpoint stopped (a
        ``--resume``, not ``load_from`` starting a new run from its weights);
        whether it did."""
        saved, self._saved = self._saved, None
        resumed = saved is not None and (runner.epoch, runner.iter) == (saved.get('epoch'),
                                                                        saved.get('iter'))
        if resumed:
            set_random_state(saved, data_side)
        return resumed

    def before_val(self, runner) -> None:
        self._state_before_val = random_state()

    def after_val(self, runner) -> None:
        if self._state_before_val is not None:
            set_random_state(self._state_before_val)
            self._state_before_val = None


def warn_if_persistent_workers(runner) -> None:
    """Log that a resumed epoch-based run cannot draw the augmentation of an
    uninterrupted one when its training loader keeps persistent workers."""
    loader = runner.train_loop.dataloader
    if loader.num_workers > 0 and getattr(loader, 'persistent_workers', False):
        runner.logger.warning(
            f'RandomStateHook: resumed at epoch {runner.epoch} with '
            'train_dataloader.persistent_workers=True. The augmentation drawn in the '
            'workers will differ from an uninterrupted run (there, their random '
            'generators ran on across epochs; here, new workers start from the seed), '
            'so the weights will too. Set train_dataloader.persistent_workers=False '
            'for an exact resume.')
