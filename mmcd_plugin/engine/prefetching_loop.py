"""mmengine's training loops with the next batch fetched in the background;
the iteration-based one also without a walk over the whole module tree
before every iteration."""
import queue
import threading
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Iterator, Optional

import torch.nn as nn
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

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


def _stop_iteration() -> Any:
    raise StopIteration


class BackgroundBatchIterator:
    """An iterator over a data loader's batches, with the next batch taken
    from the loader by a background thread while the model trains.

    Receiving a batch from the loader's worker processes and handing them the
    next indices costs the training process about 1 ms, and waking a worker
    can cost it its core for a few more on a machine with as many busy
    processes as cores. :meth:`fetch_ahead`, called when the model's step
    starts, lets the thread do that during the step; the next ``next()``
    takes a batch that is already there. The thread fetches only when asked:
    woken by ``next()`` itself, it would hold the GIL between iterations,
    where mmengine counts the time as data time. ``next()`` without a batch
    asked for asks for one itself and waits for it.

    The thread only takes batches of the current epoch's loader iterator.
    What happens at the end of an epoch is ``at_epoch_end``'s business, done
    in the calling thread at the iteration it would be done without the
    thread: mmengine's endless iterator restarts the loader there (drawing a
    seed from torch's generator and, without persistent workers, forking new
    workers); an epoch-based loop ends the epoch. So the batches, their order
    and every random number drawn in the training process are those of the
    plain iterator. An error raised for a batch is raised by ``next()`` at
    that batch, with its message; the next call goes on with the batch after
    it, as torch's iterator does.

    Batches fetched but not taken when :meth:`close` is called are dropped.
    :meth:`endless` and :meth:`one_epoch` build the two uses.

    Args:
        epoch_batches (Callable[[], Iterator]): Returns the loader iterator
            of the current epoch; called in the calling thread each time the
            thread starts (first ``fetch_ahead``, after an epoch end or an
            error).
        at_epoch_end (Callable[[], Any]): Called by ``next()`` in the
            calling thread when the current epoch has no batch left; what it
            returns is the batch ``next()`` gives, and a ``StopIteration`` it
            raises ends the iteration.
        depth (int): Batches fetched ahead at most. Defaults to 1.
    """

    def __init__(self, epoch_batches: Callable[[], Iterator], at_epoch_end: Callable[[], Any],
                 depth: int = 1) -> None:
        self._epoch_batches = epoch_batches
        self._at_epoch_end = at_epoch_end
        self._depth = depth
        self._thread: Optional[threading.Thread] = None
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._asked = 0  # batches asked for and not yet taken

    @classmethod
    def endless(cls, source: Iterator, depth: int = 1) -> 'BackgroundBatchIterator':
        """Over mmengine's ``_InfiniteDataloaderIterator``: the thread reads
        the current epoch's loader iterator (its ``_iterator`` attribute), and
        at the end of an epoch ``next(source)`` restarts the loader and gives
        the next epoch's first batch."""
        return cls(lambda: source._iterator, partial(next, source), depth)

    @classmethod
    def one_epoch(cls, dataloader: Any, depth: int = 1) -> 'BackgroundBatchIterator':
        """Over one epoch of ``dataloader``: ``iter(dataloader)`` is called
        here, in the calling thread (the sampler draws the epoch's order and
        torch the workers' base seed), and the iteration stops at the end of
        the epoch."""
        epoch = iter(dataloader)
        return cls(lambda: epoch, _stop_iteration, depth)

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
        return self._at_epoch_end()

    def fetch_ahead(self) -> None:
        """Let the thread fetch the next batch now, unless ``depth`` batches
        are asked for already."""
        if self._asked >= self._depth:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._fetch, args=(self._epoch_batches(),),
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


class BackgroundFetchMixin:
    """What the two prefetching loops share: the ``prefetch`` option, and the
    request for the next batch when each step starts (the loop sets
    ``_fetcher`` while one is in use)."""

    def __init__(self, *args, prefetch: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prefetch = prefetch
        self._fetcher: Optional[BackgroundBatchIterator] = None

    def fetches_in_background(self) -> bool:
        """Whether the loader's batches go through a
        :class:`BackgroundBatchIterator`: only from worker processes. With
        ``num_workers=0`` the pipeline itself would run in the thread and draw
        from the training process's numpy / ``random`` generators at times
        that vary from run to run."""
        return self.prefetch and self.dataloader.num_workers > 0

    def run_iter(self, *args) -> None:
        if self._fetcher is not None:
            self._fetcher.fetch_ahead()  # the next batch, during this step
        super().run_iter(*args)


@LOOPS.register_module()
class PrefetchingIterBasedTrainLoop(BackgroundFetchMixin, IterBasedTrainLoop):
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
            (:class:`BackgroundBatchIterator`); only loaders with worker
            processes are fetched so (:meth:`fetches_in_background`).
            Defaults to True.
    """

    def run(self) -> nn.Module:
        with cached_train_mode(self.runner.model), self._batches_in_background():
            return super().run()

    @contextmanager
    def _batches_in_background(self) -> Iterator[None]:
        if not self.fetches_in_background():
            yield
            return
        source = self.dataloader_iterator
        self.dataloader_iterator = self._fetcher = BackgroundBatchIterator.endless(source)
        try:
            yield
        finally:
            self._fetcher.close()
            self.dataloader_iterator, self._fetcher = source, None


@LOOPS.register_module()
class PrefetchingEpochBasedTrainLoop(BackgroundFetchMixin, EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that takes the next batch from the
    loader in a background thread during the model's step
    (:class:`BackgroundBatchIterator`, one per epoch).

    The epoch's loader iterator is created, and the epoch ends, in the
    training thread, so the batches, weights and random numbers are those of
    mmengine's loop. Unlike the iteration-based loop it keeps mmengine's
    ``model.train()`` call: that runs once an epoch, not once an iteration.

    Args:
        runner (Runner): The runner, as for mmengine's loop.
        dataloader (DataLoader | dict): The training loader or its config.
        max_epochs (int): Total training epochs.
        val_begin (int): The epoch validation starts at. Defaults to 1.
        val_interval (int): Validation interval in epochs. Defaults to 1.
        dynamic_intervals (list[tuple[int, int]], optional): Validation
            intervals changing at given epochs. Defaults to None.
        prefetch (bool): Fetch in a background thread; only loaders with
            worker processes are fetched so (:meth:`fetches_in_background`).
            Defaults to True.
    """

    def run_epoch(self) -> None:
        """One epoch, as mmengine's ``run_epoch`` with the batches fetched
        ahead."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = self.dataloader
        if self.fetches_in_background():
            batches = self._fetcher = BackgroundBatchIterator.one_epoch(self.dataloader)
        try:
            for idx, data_batch in enumerate(batches):
                self.run_iter(idx, data_batch)
        finally:
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
