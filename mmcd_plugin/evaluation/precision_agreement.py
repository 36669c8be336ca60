"""How far bf16 inference moves a model's change maps and metrics from fp32.

The accuracy guard of bf16 inference: the same model, the same samples,
once in fp32 and once under bf16 autocast; the change maps are compared
pixel by pixel and the test metrics side by side. The guard holds when at
least 99.5 % of the pixels get the same change class and no metric moves by
more than 0.2 points (the metrics of this plugin are in percent).
``tools/analysis_tools/compare_precision.py`` runs it on a checkpoint; the
figures are in ``docs/benchmarks.md``.
"""
import math
from dataclasses import dataclass, field
from numbers import Number
from typing import Dict, Iterable, List

import torch
from mmengine.evaluator import Evaluator
from torch import nn

from mmcd_plugin.utils.precision import fp32_logits, inference_precision

#: The guard's limits: share of pixels with the same change class, largest
#: metric shift (points).
MIN_AGREEMENT, MAX_SHIFT = 0.995, 0.2


@dataclass
class PrecisionAgreement:
    """fp32 against bf16 on the same samples.

    Args:
        pixels (int): Pixels compared (all change-map pixels of all samples).
        differing (int): Pixels whose change class differs.
        max_logit_diff (float): Largest absolute difference of the fp32
            logits (0 would mean bf16 never ran).
        metrics (dict): ``{'fp32': {key: value}, 'bf16': {key: value}}``.
    """
    pixels: int = 0
    differing: int = 0
    max_logit_diff: float = 0.0
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)

    @property
    def agreement(self) -> float:
        """Share of the pixels with the same change class."""
        return 1.0 - self.differing / max(self.pixels, 1)

    def shifts(self) -> Dict[str, float]:
        """|bf16 - fp32| of every numeric metric (NaNs left out), in its unit."""
        fp32, bf16 = self.metrics['fp32'], self.metrics['bf16']
        return {key: abs(float(bf16[key]) - float(value)) for key, value in fp32.items()
                if isinstance(value, Number) and not math.isnan(float(value))}

    def failures(self, min_agreement: float = MIN_AGREEMENT,
                 max_shift: float = MAX_SHIFT) -> List[str]:
        """What breaks the guard, worded; empty when it holds."""
        failed = [f'{key} moved by {shift:.2f} points (limit {max_shift})'
                  for key, shift in self.shifts().items() if shift > max_shift]
        if self.agreement < min_agreement:
            failed.insert(0, f'change maps agree on {100 * self.agreement:.3f} % of the pixels '
                          f'(limit {100 * min_agreement} %)')
        return failed

    def format(self) -> str:
        """A text table: agreement, then each metric in both precisions."""
        lines = [f'change maps agree on {100 * self.agreement:.3f} % of {self.pixels} pixels '
                 f'({self.differing} differ); largest logit difference '
                 f'{self.max_logit_diff:.4f}', f'{"metric":<28}{"fp32":>10}{"bf16":>10}'
                 f'{"shift":>8}']
        for key, shift in self.shifts().items():
            lines.append(f'{key:<28}{self.metrics["fp32"][key]:>10.2f}'
                         f'{self.metrics["bf16"][key]:>10.2f}{shift:>8.2f}')
        return '\n'.join(lines)


def _predict(model: nn.Module, batches: Iterable[dict], evaluator: Evaluator,
             precision: str) -> tuple:
    """Change maps, logits and metrics of ``model`` on ``batches`` in ``precision``."""
    maps, logits = [], []
    with torch.no_grad(), inference_precision(precision):
        for batch in batches:
            outputs = model.test_step(batch)
            evaluator.process(data_samples=outputs, data_batch=batch)
            maps += [out.pred_sem_seg.data for out in outputs]
            logits += [out.seg_logits.data.float() for out in outputs]
    return maps, logits, evaluator.evaluate(len(maps))


def compare_precisions(model: nn.Module, batches: Iterable[dict],
                       evaluator: Evaluator) -> PrecisionAgreement:
    """Run ``model`` on ``batches`` (iterated twice) in fp32, then in bf16
    as every bf16 entry point runs it (autocast, fp32 logits).

    Args:
        model (nn.Module): A segmentor in eval mode (optimized or not).
        batches (Iterable[dict]): Data batches as a test dataloader gives them.
        evaluator (Evaluator): The test evaluator, ``dataset_meta`` set.

    Returns:
        PrecisionAgreement: The comparison.
    """
    model.eval()
    fp32_logits(model)
    maps32, logits32, metrics32 = _predict(model, batches, evaluator, 'fp32')
    maps16, logits16, metrics16 = _predict(model, batches, evaluator, 'bf16')
    result = PrecisionAgreement(metrics=dict(fp32=metrics32, bf16=metrics16))
    for a, b, la, lb in zip(maps32, maps16, logits32, logits16):
        result.pixels += a.numel()
        result.differing += int((a != b).sum())
        result.max_logit_diff = max(result.max_logit_diff, float((la - lb).abs().max()))
    return result
