"""mmengine's iteration-based training loop without a walk over the whole
module tree before every iteration."""
from contextlib import contextmanager
from typing import Iterator

import torch.nn as nn
from mmengine.runner import IterBasedTrainLoop

from mmcd_plugin.registry import LOOPS


@contextmanager
def cached_train_mode(model: nn.Module) -> Iterator[nn.Module]:
    """While active, ``model.train(mode)`` returns at once when ``mode`` is
    the mode last set through ``model.train`` / ``model.eval``.

    ``nn.Module.train`` visits every submodule (and each module's own
    override, e.g. a frozen encoder that stays in eval mode), about 5 us a
    module. The first call and every change of mode (``model.eval()`` at the
    start of a validation, ``model.train()`` after it) still run it in full.
    A submodule switched directly (``model.backbone.eval()``) between
    iterations stays as it was left, where mmengine's loop would switch it
    back; modules that must keep a mode do so in their ``train()`` override,
    which the first call has run.

    Args:
        model (nn.Module): The model (or its wrapper) the loop trains.
    """
    real_train = model.train
    last_mode = None

    def train(mode: bool = True) -> nn.Module:
        nonlocal last_mode
        if last_mode is not bool(mode):
            real_train(mode)
            last_mode = bool(mode)
        return model

    model.train = train  # an instance attribute: ``eval()`` calls it too
    try:
        yield model
    finally:
        del model.train


@LOOPS.register_module()
class ModeCachedIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that switches the model to training
    mode only when it is not in it already (after a validation).

    mmengine's loop calls ``model.train()`` before every iteration, which
    costs about 5 us per module: 0.6 ms of a 50 ms iteration of the tiny
    siamese config, and mmengine's ``IterTimerHook`` counts it as data time
    (see ``docs/benchmarks.md``, training input pipeline). Same arguments as
    mmengine's loop; see :func:`cached_train_mode` for the one difference in
    behaviour.
    """

    def run(self) -> nn.Module:
        with cached_train_mode(self.runner.model):
            return super().run()
