"""Stop a training run at the first NaN/Inf loss, learning rate or weight."""
import math
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook

from mmcd_plugin.registry import HOOKS


def first_non_finite(values: Dict[str, object]) -> Optional[str]:
    """Name of the first entry of ``values`` (numbers or tensors) that holds a
    NaN or Inf, or None."""
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return name
        elif isinstance(value, float) and not math.isfinite(value):
            return name
    return None


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training with a clear message when the loss, the learning rate or
    the weights stop being finite, before anything overwrites a good checkpoint.

    Checked:

    - every ``interval`` iterations, each loss term the model logs (keys
      containing ``'loss'``, e.g. ``decode.loss_ce``) and every learning rate
      of the optimizer wrapper;
    - before every checkpoint save, every floating-point tensor of the
      ``state_dict`` (a step with a finite loss but a non-finite gradient
      poisons the weights one iteration before the loss shows it).

    The hook runs with ``VERY_HIGH`` priority, so its ``after_train_iter``
    check precedes the :class:`CheckpointHook` save of the same iteration;
    the raised ``FloatingPointError`` ends the run, and no checkpoint or
    ``last_checkpoint`` is written after the last good one, which the message
    names.

    Args:
        interval (int): Check the loss and learning rate every ``interval``
            iterations. Defaults to 1: mmengine's ``RuntimeInfoHook`` copies
            them to the host every iteration anyway, and checking only at
            logging iterations would let a checkpoint be saved between a NaN
            and its detection whenever the checkpoint interval is not a
            multiple of the logging interval.
    """
    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'NonFiniteCheckHook interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        losses = {k: v for k, v in (outputs or {}).items() if 'loss' in k}
        # name a term rather than the total they add up to
        terms = {k: v for k, v in losses.items() if k != 'loss'}
        bad = first_non_finite(terms) or first_non_finite(losses)
        if bad is not None:
            total = f' (total loss = {float(losses["loss"])})' \
                if 'loss' in losses and bad != 'loss' else ''
            self._stop(runner, f'loss term {bad} = {float(losses[bad])}{total}',
                       'lower the learning rate, clip gradients or check the data')
        learning_rates = {f'{group}[{i}]': float(lr)
                          for group, values in runner.optim_wrapper.get_lr().items()
                          for i, lr in enumerate(values)}
        bad = first_non_finite(learning_rates)
        if bad is not None:
            self._stop(runner, f'learning rate {bad} = {learning_rates[bad]}',
                       'check param_scheduler and optim_wrapper')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = first_non_finite(checkpoint.get('state_dict', {}))
        if bad is not None:
            self._stop(runner, f'weight {bad} (checkpoint not saved)',
                       'lower the learning rate or clip gradients')

    @staticmethod
    def _stop(runner, what: str, remedy: str) -> None:
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        last = None
        if osp.isfile(pointer):
            with open(pointer) as f:
                last = f.read().strip()
        kept = (f'the last good checkpoint {last} is untouched (tools/train.py --resume '
                'continues from it)' if last else 'no checkpoint was saved')
        raise FloatingPointError(
            f'Non-finite value at iteration {runner.iter + 1}: {what}. Training stopped; '
            f'{kept}. To fix: {remedy}.')
