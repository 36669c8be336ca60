"""MultiModalDataPreprocessor: per-image statistics, padding of every label
field, Open-CD's flat statistics, non-finite values."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd_plugin  # noqa: F401
from mmcd_plugin.registry import MODELS


def sample(h, w, fields=('gt_sem_seg', 'gt_sem_seg_from', 'gt_sem_seg_to')):
    data_sample = SegDataSample()
    for value, field in enumerate(fields, start=1):
        data_sample.set_data({field: PixelData(data=torch.full((1, h, w), value))})
    return data_sample


def test_optical_plus_sar_normalised_per_image_and_padded():
    pre = MODELS.build(dict(type='MultiModalDataPreprocessor', in_channels=(3, 1),
                            mean=[[10, 20, 30], [5]], std=[[2, 4, 5], [0.5]],
                            size_divisor=4, seg_pad_val=255))
    inputs = [torch.tensor([12., 28., 40., 6.]).view(4, 1, 1).expand(4, 3, 5).clone(),
              torch.tensor([10., 20., 30., 5.]).view(4, 1, 1).expand(4, 2, 2).clone()]
    out = pre(dict(inputs=inputs, data_samples=[sample(3, 5), sample(2, 2)]), training=True)
    batch = out['inputs']
    assert batch.shape == (2, 4, 4, 8)  # max (3, 5) rounded up to multiples of 4
    # (12-10)/2 = 1, (28-20)/4 = 2, (40-30)/5 = 2, (6-5)/0.5 = 2
    torch.testing.assert_close(batch[0, :, 0, 0], torch.tensor([1., 2., 2., 2.]))
    torch.testing.assert_close(batch[1, :, 1, 1], torch.zeros(4))
    assert batch[0, :, 3, :].eq(0).all() and batch[0, :, :, 5:].eq(0).all()  # pad_val
    first = out['data_samples'][0]
    for value, field in enumerate(('gt_sem_seg', 'gt_sem_seg_from', 'gt_sem_seg_to'), 1):
        label = getattr(first, field).data
        assert label.shape == (1, 4, 8)
        assert label[:, :3, :5].eq(value).all() and label[:, 3:].eq(255).all()
        assert label[:, :, 5:].eq(255).all()
    assert first.metainfo['padding_size'] == (0, 3, 0, 1)
    assert first.metainfo['batch_input_shape'] == (4, 8)


def test_opencd_flat_statistics_equal_per_image_lists():
    mean, std = [1, 2, 3, 4, 5, 6], [1, 2, 4, 1, 2, 4]
    flat = MODELS.build(dict(type='MultiModalDataPreprocessor', mean=mean, std=std))
    nested = MODELS.build(dict(type='MultiModalDataPreprocessor', mean=[mean[:3], mean[3:]],
                               std=[std[:3], std[3:]]))
    x = [torch.arange(6 * 4, dtype=torch.float32).view(6, 2, 2)]
    torch.testing.assert_close(flat(dict(inputs=x))['inputs'], nested(dict(inputs=x))['inputs'])
    torch.testing.assert_close(flat(dict(inputs=x))['inputs'][0, 5, 0, 0],
                               torch.tensor((20. - 6.) / 4.))


def test_bgr_to_rgb_flips_three_channel_images_only():
    pre = MODELS.build(dict(type='MultiModalDataPreprocessor', in_channels=(3, 1),
                            bgr_to_rgb=True))
    x = [torch.tensor([1., 2., 3., 9.]).view(4, 1, 1)]
    assert pre(dict(inputs=x))['inputs'].flatten().tolist() == [3., 2., 1., 9.]


def test_channel_mismatch_is_a_clear_error():
    pre = MODELS.build(dict(type='MultiModalDataPreprocessor', in_channels=(3, 4)))
    with pytest.raises(ValueError, match=r'inputs have 6 channels.*\[3, 4\]'):
        pre(dict(inputs=[torch.zeros(6, 2, 2)]))


def test_nonfinite_inputs_are_replaced_not_propagated():
    pre = MODELS.build(dict(type='MultiModalDataPreprocessor', in_channels=(1, 1),
                            mean=[[0], [0]], std=[[1], [1]], nonfinite_value=0.0))
    x = torch.tensor([[[1., float('nan')]], [[float('inf'), 2.]]])
    out = pre(dict(inputs=[x], data_samples=[sample(1, 2, ('gt_sem_seg', ))]))['inputs']
    assert torch.isfinite(out).all()
    assert out.flatten().tolist() == [1., 0., 0., 2.]


def test_statistics_length_checked():
    with pytest.raises(ValueError, match='mean has 5 values but the inputs have 6'):
        MODELS.build(dict(type='MultiModalDataPreprocessor', mean=[0] * 5, std=[1] * 5))
