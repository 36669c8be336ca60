"""The mmengine plumbing shared by the change-detection metrics.

:class:`ConfusionMatrixMetric` stores small confusion matrices (a tuple, usually
of one) per data sample in ``self.results`` (so mmengine's ``collect_results`` drops the
samples a distributed sampler pads, exactly as for mmseg's ``IoUMetric``),
sums them in :meth:`compute_metrics`, logs a per-class table and hands the
summed matrix to the subclass. A subclass only says which (prediction,
reference) map pairs a sample contributes and which scores it reports; one
that needs more than one matrix (e.g. Open-CD's keys of another pairing)
returns them all from :meth:`sample_matrices`.
"""
from typing import Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from .confusion import (confusion_matrix, f1_score, iou, percent, precision,
                        recall)


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Render a table with ``prettytable`` if installed, else as plain text.

    Args:
        header (Sequence[str]): Column titles.
        rows (Sequence[Sequence]): One sequence of cells per row.

    Returns:
        str: The table.
    """
    try:
        from prettytable import PrettyTable
    except ImportError:
        return '\n'.join(' | '.join(str(cell) for cell in row)
                         for row in [header, *rows])
    table = PrettyTable(list(header))
    for row in rows:
        table.add_row(list(row))
    return table.get_string()


def class_table(names: Sequence[str], cm: np.ndarray) -> str:
    """Per-class IoU, F1, precision and recall (percent) of ``cm``."""
    columns = [[percent(value) for value in score(cm)]
               for score in (iou, f1_score, precision, recall)]
    rows = [[name, *cells] for name, *cells in zip(names, *columns)]
    return format_table(['Class', 'IoU', 'F1', 'Precision', 'Recall'], rows)


class ConfusionMatrixMetric(BaseMetric):
    """Base class: accumulate one confusion matrix per sample, then score it.

    Subclasses implement :meth:`scores`, may override :meth:`label_pairs`
    (default: the change maps ``pred_sem_seg`` / ``gt_sem_seg``) and may set
    ``class_keys`` (the ``dataset_meta`` keys tried, in order, for the class
    names).

    Args:
        num_classes (int, optional): Number of classes of the compared maps.
            Defaults to None: the length of the class names found in
            ``dataset_meta``.
        ignore_index (int): Reference value excluded from every count.
            Defaults to 255.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered across processes. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """
    class_keys: Tuple[str, ...] = ('classes', )

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._num_classes = num_classes
        self.ignore_index = ignore_index

    @property
    def class_names(self) -> Tuple[str, ...]:
        """Class names from ``dataset_meta``, else the class indices.

        The names are used when their number matches ``num_classes`` (or when
        ``num_classes`` is None); otherwise the classes are named by index.
        """
        meta = self.dataset_meta or {}
        names = next((tuple(meta[key]) for key in self.class_keys
                      if key in meta), None)
        if self._num_classes is None:
            if names is None:
                raise ValueError(
                    f'{type(self).__name__} needs num_classes or dataset_meta '
                    f'with one of the keys {self.class_keys}.')
            return names
        if names is None or len(names) != self._num_classes:
            return tuple(str(i) for i in range(self._num_classes))
        return names

    @property
    def num_classes(self) -> int:
        """Number of classes of the compared maps."""
        if self._num_classes is not None:
            return self._num_classes
        return len(self.class_names)

    def label_pairs(self, data_sample: dict
                    ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Yield the ``(prediction, reference)`` maps a sample contributes.

        By default the change map pair ``pred_sem_seg`` / ``gt_sem_seg``.
        """
        yield data_sample['pred_sem_seg']['data'], \
            data_sample['gt_sem_seg']['data']

    def per_class(self, name: str, values: np.ndarray) -> dict:
        """``{'<name>.<class>': percent}`` for per-class values."""
        return {f'{name}.{cls}': percent(value)
                for cls, value in zip(self.class_names, values)}

    def scores(self, cm: np.ndarray, *more: np.ndarray) -> dict:
        """The metric values (percent) of the data set's confusion matrix
        (and of the further matrices :meth:`sample_matrices` gives)."""
        raise NotImplementedError

    def sample_matrices(self, data_sample: dict) -> Tuple[np.ndarray, ...]:
        """The confusion matrices one sample contributes; the first is the
        one :meth:`scores` is about and the per-class table shows.

        By default one: the matrix of :meth:`label_pairs`.
        """
        return (self.matrix(self.label_pairs(data_sample)), )

    def matrix(self, pairs: Iterable[Tuple[torch.Tensor, torch.Tensor]],
               num_classes: Optional[int] = None) -> np.ndarray:
        """The summed confusion matrix of ``(prediction, reference)`` pairs
        (``num_classes`` classes, default :attr:`num_classes`)."""
        num_classes = num_classes or self.num_classes
        return sum(confusion_matrix(pred, label, num_classes, self.ignore_index)
                   for pred, label in pairs)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Append each data sample's confusion matrices to ``self.results``.

        Args:
            data_batch: Unused; the inputs of the batch.
            data_samples (Sequence[dict]): Model outputs with predictions and
                ground truth, e.g. ``sample['pred_sem_seg']['data']``.
        """
        self.results.extend(self.sample_matrices(data_sample)
                            for data_sample in data_samples)

    def compute_metrics(self, results: list) -> dict:
        """Sum the per-sample matrices, log a per-class table, score.

        Args:
            results (list[tuple[ndarray]]): The per-sample confusion matrices.

        Returns:
            dict[str, float]: Metric values in percent.
        """
        if not results:
            raise ValueError(
                f'{type(self).__name__} got no processed samples.')
        totals = [np.sum(matrices, axis=0) for matrices in zip(*results)]
        print_log(f'per-class results of {type(self).__name__}:\n'
                  + class_table(self.class_names, totals[0]), logger='current')
        return self.scores(*totals)
