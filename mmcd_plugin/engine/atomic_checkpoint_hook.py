"""mmengine's CheckpointHook with crash-safe bookkeeping around the file."""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmcd_plugin.registry import HOOKS
from .atomic_file_backend import atomic_write


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints so that a crash at any moment leaves a resumable run.

    The checkpoint file itself is written atomically by
    :class:`~mmcd_plugin.engine.atomic_file_backend.AtomicLocalBackend`
    (for every hook, this one included). Around it, the stock
    ``CheckpointHook`` has two unsafe steps that this subclass orders safely:

    1. It removes the checkpoint that falls out of ``max_keep_ckpts``
       *before* saving the new one; with ``max_keep_ckpts=1`` a crash during
       the save leaves no checkpoint at all and ``last_checkpoint`` naming a
       deleted file. Here the outdated file is removed only after the new
       checkpoint and ``last_checkpoint`` are in place.
    2. It rewrites ``{work_dir}/last_checkpoint`` in place (truncate, then
       write); a crash in between leaves it empty and ``--resume`` finds
       nothing. Here it is written with :func:`atomic_write`.

    A crash between the pointer update and the removal leaves one extra old
    checkpoint on disk, never a missing one.

    Args: as :class:`mmengine.hooks.CheckpointHook`.
    """

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated = self._keep(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt.encode())
        if outdated is not None:
            self._remove(outdated)

    def _keep(self, runner, step: int) -> Optional[int]:
        """Add ``step`` to the kept checkpoints (saved with the checkpoint in
        the message hub, as the stock hook does) and return the step that
        falls out of the ``max_keep_ckpts`` window, if any."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return None
        outdated = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return outdated

    def _remove(self, step: int) -> None:
        path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed saves directories
            self.file_backend.rmtree(path)
