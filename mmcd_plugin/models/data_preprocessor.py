"""Data preprocessor for bi-temporal and multimodal inputs."""
from numbers import Number
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from mmcd_plugin.registry import MODELS

LABEL_FIELDS = ('gt_sem_seg', 'gt_sem_seg_from', 'gt_sem_seg_to')


def _split_stats(stats, in_channels: Sequence[int], name: str) -> List[torch.Tensor]:
    """Per-input statistics from ``[[...], [...]]`` or Open-CD's flat list."""
    if stats is None:
        return [None] * len(in_channels)
    if all(isinstance(s, Number) for s in stats):
        if len(stats) != sum(in_channels):
            raise ValueError(f'{name} has {len(stats)} values but the inputs have '
                             f'{sum(in_channels)} channels ({in_channels}).')
        stats = torch.tensor(stats, dtype=torch.float32).split(list(in_channels))
    if len(stats) != len(in_channels):
        raise ValueError(f'{name} needs one list per input ({len(in_channels)}), '
                         f'got {len(stats)}.')
    out = []
    for index, (values, channels) in enumerate(zip(stats, in_channels)):
        values = torch.as_tensor(values, dtype=torch.float32).flatten()
        if values.numel() not in (1, channels):
            raise ValueError(f'{name}[{index}] has {values.numel()} values for an input '
                             f'of {channels} channels.')
        out.append(values.expand(channels).clone().view(-1, 1, 1))
    return out


@MODELS.register_module()
class MultiModalDataPreprocessor(BaseDataPreprocessor):
    """Normalise, pad and batch ``inputs`` made of several concatenated images.

    Each sample's ``inputs`` is the concatenation of the per-date images along
    channels (``PackChangeInputs``); ``in_channels`` says how many channels each
    image has (optical 3 + SAR 1 or 4; Open-CD's 6-channel input is 3 + 3).
    Each image is normalised with its own mean/std. Images and every label
    field (``gt_sem_seg``, ``gt_sem_seg_from``, ``gt_sem_seg_to``) are padded to
    a common size (bottom/right, labels with ``seg_pad_val``). Non-finite input
    values are replaced by ``nonfinite_value`` (after normalisation) and
    reported, so they never reach a loss.

    Args:
        in_channels (Sequence[int]): Channels of each image. Defaults to (3, 3).
        mean (Sequence): Per-image means ``[[...], [...]]`` (one value or one per
            channel), or a flat list over all channels as in Open-CD.
            Defaults to None (no normalisation).
        std (Sequence): Like ``mean``. Defaults to None.
        bgr_to_rgb (bool): Reverse the channel order of each 3-channel image
            (for pipelines that load with OpenCV's BGR order; our loader
            already gives RGB). Defaults to False.
        size (tuple[int, int], optional): Fixed padded size (h, w).
        size_divisor (int, optional): Pad to a multiple of this.
        pad_val (float): Image padding value. Defaults to 0.
        seg_pad_val (int): Label padding value. Defaults to 255.
        nonfinite_value (float): Replacement of NaN/Inf. Defaults to 0.0.
        test_cfg (dict, optional): ``size`` / ``size_divisor`` used at test time.
    """

    def __init__(self, in_channels: Sequence[int] = (3, 3), mean=None, std=None,
                 bgr_to_rgb: bool = False, size: Optional[Sequence[int]] = None,
                 size_divisor: Optional[int] = None, pad_val: float = 0,
                 seg_pad_val: int = 255, nonfinite_value: float = 0.0,
                 test_cfg: Optional[dict] = None):
        super().__init__()
        self.in_channels = list(in_channels)
        if (mean is None) != (std is None):
            raise ValueError('mean and std must be given together')
        self._normalize = mean is not None
        for index, (m, s) in enumerate(zip(_split_stats(mean, self.in_channels, 'mean'),
                                           _split_stats(std, self.in_channels, 'std'))):
            self.register_buffer(f'mean_{index}', m, persistent=False)
            self.register_buffer(f'std_{index}', s, persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.size = size
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.nonfinite_value = nonfinite_value
        self.test_cfg = test_cfg or {}

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """Normalise one ``(C1 + C2 + ..., H, W)`` sample image by image."""
        if image.shape[0] != sum(self.in_channels):
            raise ValueError(
                f'inputs have {image.shape[0]} channels but the data preprocessor expects '
                f'{self.in_channels} (sum {sum(self.in_channels)}). Make the loading '
                'transform bands / repeat_channels and data_preprocessor.in_channels agree.')
        parts = list(image.float().split(self.in_channels))
        for index, part in enumerate(parts):
            if self.bgr_to_rgb and part.shape[0] == 3:
                part = part.flip(0)
            if self._normalize:
                part = (part - getattr(self, f'mean_{index}')) / getattr(self, f'std_{index}')
            parts[index] = part
        return torch.cat(parts)

    def pad_shape(self, shapes: List[torch.Size], training: bool):
        size = self.size if training else self.test_cfg.get('size', self.size)
        divisor = self.size_divisor if training else \
            self.test_cfg.get('size_divisor', self.size_divisor)
        h = max(s[-2] for s in shapes)
        w = max(s[-1] for s in shapes)
        if size is not None:
            h, w = max(h, size[0]), max(w, size[1])
        if divisor:
            h, w = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        return h, w

    def forward(self, data: dict, training: bool = False) -> Dict:
        data = self.cast_data(data)
        images = [self.normalize(image) for image in data['inputs']]
        samples = data.get('data_samples')
        h, w = self.pad_shape([image.shape for image in images], training)
        batch = torch.stack([F.pad(image, (0, w - image.shape[-1], 0, h - image.shape[-2]),
                                   value=self.pad_val) for image in images])
        self._replace_nonfinite(batch, samples)
        if samples is not None:
            for image, sample in zip(images, samples):
                pad = (0, w - image.shape[-1], 0, h - image.shape[-2])
                sample.set_metainfo(dict(batch_input_shape=(h, w), pad_shape=(h, w),
                                         padding_size=pad))
                for field in LABEL_FIELDS:
                    if field in sample:
                        label = getattr(sample, field).data
                        padded = F.pad(label, pad, value=self.seg_pad_val)
                        sample.set_data({field: PixelData(data=padded)})
        return dict(inputs=batch, data_samples=samples)

    def _replace_nonfinite(self, batch: torch.Tensor, samples) -> None:
        bad = ~torch.isfinite(batch)
        if bad.any():
            paths = [s.metainfo.get('img_path') for s in samples] if samples else []
            print_log(f'{int(bad.sum())} non-finite input value(s) replaced by '
                      f'{self.nonfinite_value} in batch {paths}', logger='current', level=30)
            batch[bad] = self.nonfinite_value
