"""mmengine's iteration-based training loop with the next batch fetched in
the background and without a walk over the whole module tree before every
iteration."""
import queue
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Sequence, Tuple

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


_END = object()  # the end of an epoch iterator


class BackgroundBatchIterator:
    """mmengine's endless data-loader iterator, with the next batch taken from
    the loader by a background thread while the model trains.

    Receiving a batch from the loader's worker processes and handing them the
    next indices costs the training process about 1 ms, and waking a worker
    can cost it its core for a few more on a machine with as many busy
    processes as cores. :meth:`fetch_ahead`, called when the model's step
    starts, lets the thread do that during the step; the next ``next()``
    takes a batch that is already there. The thread fetches only when asked:
    woken by ``next()`` itself, it would hold the GIL between iterations,
    where mmengine counts the time as data time. ``next()`` without a batch
    asked for asks for one itself and waits for it.

    The thread only takes batches of the current epoch's loader iterator. The
    end of an epoch, and with it mmengine's restart of the loader (which
    draws a seed from torch's generator and, without persistent workers,
    forks new ones), happens in the calling thread at the iteration it would
    without the thread. So the batches, their order and every random number
    drawn in the training process are those of the plain iterator. An error
    raised for a batch is raised by ``next()`` at that batch, with its
    message; the next call goes on with the batch after it, as torch's
    iterator does.

    Batches fetched but not taken when :meth:`close` is called are dropped.

    Args:
        source (Iterator): mmengine's ``_InfiniteDataloaderIterator``; its
            ``_iterator`` attribute is the current epoch's loader iterator.
        depth (int): Batches fetched ahead at most. Defaults to 1.
    """

    def __init__(self, source: Iterator, depth: int = 1) -> None:
        self._source = source
        self._depth = depth
        self._thread: Optional[threading.Thread] = None
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._asked = 0  # batches asked for and not yet taken

    def __iter__(self) -> 'BackgroundBatchIterator':
        return self

    def __next__(self) -> Any:
        if not self._asked:
            self.fetch_ahead()
        kind, value = self._results.get()
        self._asked -= 1
        if kind == 'batch':
            return value
        self._stop()  # the thread ended at the end of the epoch or an error
        if kind == 'error':
            raise value
        return next(self._source)  # end of the epoch: mmengine restarts the loader

    def fetch_ahead(self) -> None:
        """Let the thread fetch the next batch now, unless ``depth`` batches
        are asked for already."""
        if self._asked >= self._depth:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._fetch, args=(self._source._iterator,),
                                            name='BackgroundBatchIterator', daemon=True)
            self._thread.start()
        self._requests.put(True)
        self._asked += 1

    def close(self) -> None:
        """Stop the thread and drop the batches it fetched."""
        self._stop()
        self._results = queue.SimpleQueue()

    def _stop(self) -> None:
        if self._thread is not None:
            self._requests.put(False)
            self._thread.join()
            self._thread = None
        self._requests = queue.SimpleQueue()
        self._asked = 0

    def _fetch(self, epoch_iterator: Iterator) -> None:
        """Thread body: one ``('batch', batch)`` per request, until the epoch
        ends (``('end', None)``), a batch fails (``('error', exception)``) or
        the request is ``False``."""
        try:
            while self._requests.get():
                batch = next(epoch_iterator, _END)
                if batch is _END:
                    self._results.put(('end', None))
                    return
                self._results.put(('batch', batch))
        except BaseException as error:  # noqa: B902 - raised by the training thread
            self._results.put(('error', error))


@LOOPS.register_module()
class PrefetchingIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that takes the next batch from the
    loader in a background thread and switches the model to training mode
    only when it is not in it already (after a validation).

    Both keep work that mmengine's ``IterTimerHook`` counts as data time off
    the path between two iterations (see ``docs/benchmarks.md``, training
    input pipeline): receiving the batch from the workers (about 1 ms, and
    the stalls of waking a worker on a busy machine) and ``model.train()``,
    which costs about 5 us per module (0.6 ms for the tiny siamese model).
    The batches, weights and random numbers are those of mmengine's loop,
    including after ``--resume``.

    Args:
        runner (Runner): The runner, as for mmengine's loop.
        dataloader (DataLoader | dict): The training loader or its config.
        max_iters (int): Total training iterations.
        val_begin (int): The iteration validation starts at. Defaults to 1.
        val_interval (int): Validation interval. Defaults to 1000.
        dynamic_intervals (list[tuple[int, int]], optional): Validation
            intervals changing at given iterations. Defaults to None.
        prefetch (bool): Fetch in a background thread
            (:class:`BackgroundBatchIterator`). Only loaders with worker
            processes are fetched so: with ``num_workers=0`` the pipeline
            itself would run in the thread and draw from the training
            process's numpy / ``random`` generators at times that vary from
            run to run. Defaults to True.
    """

    def __init__(self, runner, dataloader, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None,
                 prefetch: bool = True) -> None:
        super().__init__(runner, dataloader, max_iters, val_begin, val_interval,
                         dynamic_intervals)
        self.prefetch = prefetch
        self._fetcher: Optional[BackgroundBatchIterator] = None

    def run(self) -> nn.Module:
        with cached_train_mode(self.runner.model), self._batches_in_background():
            return super().run()

    def run_iter(self, data_batch: Sequence[dict]) -> None:
        if self._fetcher is not None:
            self._fetcher.fetch_ahead()  # the next batch, during this step
        super().run_iter(data_batch)

    @contextmanager
    def _batches_in_background(self) -> Iterator[None]:
        if not (self.prefetch and self.dataloader.num_workers > 0):
            yield
            return
        source = self.dataloader_iterator
        self.dataloader_iterator = self._fetcher = BackgroundBatchIterator(source)
        try:
            yield
        finally:
            self._fetcher.close()
            self.dataloader_iterator, self._fetcher = source, None
