"""mmcd_plugin with the real Open-CD 1.1.0 (``../shared/peers/open-cd``).

Each training case runs a few iterations through Open-CD's or our
``tools/train.py`` on a child of one of ``configs/opencd_interop/`` (data
roots, iterations and a reference metric added), then checks numbers: our
metrics' Open-CD keys against Open-CD's / mmseg's own metric in the same
evaluator, the losses the configs name, checkpoints evaluated by the other
toolbox's ``tools/test.py`` against the last validation of training. The
whole module skips when the peer is absent (or ``mmdet``, which ``import
opencd`` needs, is not installed).
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import OPENCD, SHARED_DATA
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LEVIR = osp.normpath(osp.join(SHARED_DATA, 'levir_cd_samples'))
INTEROP = osp.join(REPO, 'configs', 'opencd_interop')
MMSEG_KEYS = ('aAcc', 'mIoU', 'mAcc', 'mFscore', 'mPrecision', 'mRecall')


def skip_without_levir():
    if not osp.isdir(LEVIR):
        pytest.skip(f'real LEVIR-CD sample tiles not present: {LEVIR}')


@pytest.fixture(scope='module')
def levir_root(tmp_path_factory, opencd):
    """The real LEVIR-CD tiles in LEVIR-CD's layout: 4 training pairs, 1 for
    validation and test (``{split}/{A,B,label}``), for both toolboxes."""
    skip_without_levir()
    root = tmp_path_factory.mktemp('levir')
    names = sorted(os.listdir(osp.join(LEVIR, 'A')))
    for split, picked in (('train', names[:4]), ('val', names[4:5]), ('test', names[4:5])):
        for folder in ('A', 'B', 'label'):
            os.makedirs(root / split / folder)
            for name in picked:
                os.symlink(osp.join(LEVIR, folder, name), root / split / folder / name)
    return root


@pytest.fixture(scope='module')
def second_root(tmp_path_factory, opencd):
    """SECOND's layout as Open-CD reads it, from the real LEVIR-CD tiles: the
    change mask (0/1) and per-date class maps (0 = unchanged, 1..6 in 64-pixel
    blocks, another class on each date) inside the changed buildings."""
    skip_without_levir()
    root = tmp_path_factory.mktemp('second')
    names = sorted(os.listdir(osp.join(LEVIR, 'A')))[:4]
    rows, cols = np.mgrid[:256, :256] // 64
    for split, picked in (('train', names[:3]), ('val', names[3:])):
        for folder in ('im1', 'im2', 'label', 'label1', 'label2'):
            os.makedirs(root / split / folder)
        for name in picked:
            os.symlink(osp.join(LEVIR, 'A', name), root / split / 'im1' / name)
            os.symlink(osp.join(LEVIR, 'B', name), root / split / 'im2' / name)
            changed = np.array(Image.open(osp.join(LEVIR, 'label', name))) > 0
            maps = dict(label=changed, label1=(1 + (rows + cols) % 6) * changed,
                        label2=(1 + (rows + cols + 3) % 6) * changed)
            for folder, values in maps.items():
                Image.fromarray(values.astype(np.uint8)).save(root / split / folder / name)
    return root


def child_config(tmp_path, base, text):
    """A config inheriting ``configs/opencd_interop/<base>`` plus ``text``."""
    path = tmp_path / f'child_{base}'
    path.write_text(f'_base_ = [{osp.join(INTEROP, base)!r}]\n{text}')
    return str(path)


def run_tool(toolbox, tool, *args, cwd):
    """``python <toolbox>/tools/<tool> ...`` with Open-CD importable."""
    env = dict(os.environ, OPENCD_ROOT=OPENCD,
               PYTHONPATH=os.pathsep.join([OPENCD, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, osp.join(toolbox, 'tools', tool), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def logged(work_dir):
    """The scalars mmengine logged: (training records, validation records)."""
    path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        records = [json.loads(line) for line in f]
    return ([r for r in records if 'loss' in r], [r for r in records if 'loss' not in r])


def metrics_of_test_run(work_dir):
    """The metrics a ``tools/test.py`` run wrote to its ``<timestamp>.json``."""
    path, = glob.glob(osp.join(work_dir, '*', '*.json'))
    with open(path) as f:
        return json.load(f)


SMALL_RUN = """
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), visualization=dict(img_shape=(256, 256, 3)))
model = dict(pretrained=None)
"""


# Open-CD's LEVIR-CD test pipelines resize to 1024^2, the size of LEVIR-CD's
# tiles; the sample tiles are 256^2 crops, so they stay at their size here
# (and Open-CD's visualization hook, which its LEVIR-CD configs give LEVIR-CD's
# img_shape, gets theirs).
OPENCD_TEST_PIPELINE = """[
    dict(type='MultiImgLoadImageFromFile'),
    dict(type='MultiImgResize', scale=(256, 256), keep_ratio=True),
    dict(type='MultiImgLoadAnnotations'),
    dict(type='MultiImgPackSegInputs')]"""


def opencd_levir_data(root, split):
    pipeline = '' if split == 'train' else f', pipeline={OPENCD_TEST_PIPELINE}'
    return (f"dict(data_root={str(root)!r}, data_prefix=dict(img_path_from='{split}/A', "
            f"img_path_to='{split}/B', seg_map_path='{split}/label'){pipeline})")


def test_bit_with_our_losses_and_metric_keeps_opencd_save_best(tmp_path, levir_root):
    cfg = child_config(tmp_path, 'bit_r18_mmcd-losses-metric_levir-cd.py', SMALL_RUN + f"""
train_dataloader = dict(dataset={opencd_levir_data(levir_root, 'train')})
val_dataloader = dict(dataset={opencd_levir_data(levir_root, 'val')})
test_dataloader = val_dataloader
val_evaluator = [dict(type='mmcd_plugin.BinaryChangeMetric'),
                 dict(type='mmseg.IoUMetric', iou_metrics=['mFscore', 'mIoU'], prefix='mmseg')]
test_evaluator = val_evaluator
""")
    work = tmp_path / 'work'
    run_tool(OPENCD, 'train.py', cfg, '--work-dir', str(work), cwd=tmp_path)
    # Open-CD's unmodified CheckpointHook(save_best='mIoU') found its key
    assert (work / 'best_mIoU_iter_2.pth').exists()
    train, (val, ) = logged(work)
    for record in train:
        losses = [record[f'decode.loss_{name}'] for name in ('focal', 'dice', 'lovasz')]
        assert all(np.isfinite(losses)) and record['loss'] == pytest.approx(sum(losses),
                                                                             rel=1e-4)
    # our mmseg keys are mmseg's IoUMetric values on the same predictions
    assert {k: val[k] for k in MMSEG_KEYS} == {k: val[f'mmseg/{k}'] for k in MMSEG_KEYS}
    # Open-CD's tools/test.py with its CDVisualizationHook drawing the panels
    shown = tmp_path / 'shown'
    run_tool(OPENCD, 'test.py', cfg, str(work / 'best_mIoU_iter_2.pth'),
             '--work-dir', str(shown), '--show-dir', 'panels', cwd=tmp_path)
    result = metrics_of_test_run(shown)
    assert {k: result[k] for k in ('mIoU', 'F1', 'IoU')} == {k: val[k]
                                                             for k in ('mIoU', 'F1', 'IoU')}
    # Open-CD's test.py writes --show-dir relative to the working directory
    panel, = glob.glob(str(tmp_path / 'panels' / '**' / '*.png'), recursive=True)
    assert np.array(Image.open(panel)).shape == (256, 256, 3)


def test_opencd_scd_model_with_lsafnet_cd_decoder_and_consistency_loss(tmp_path,
                                                                         second_root):
    data = f"dict(data_root={str(second_root)!r})"
    cfg = child_config(tmp_path, 'scd_upernet_r18_lsaf-cd-head-consistency_second.py',
                       SMALL_RUN + f"""
train_dataloader = dict(dataset={data})
val_dataloader = dict(dataset={data})
test_dataloader = val_dataloader
val_evaluator = [dict(type='mmcd_plugin.SemanticChangeMetric'),
                 dict(type='SCDMetric', iou_metrics=['mFscore', 'mIoU'], cal_sek=True,
                      prefix='opencd_binary', semantic_prefix='opencd_semantic')]
test_evaluator = val_evaluator
""")
    work = tmp_path / 'work'
    run_tool(OPENCD, 'train.py', cfg, '--work-dir', str(work), cwd=tmp_path)
    assert (work / 'best_binary_mIoU_iter_2.pth').exists()
    train, (val, ) = logged(work)
    parts = ('decode.binary_cd.loss_bcd', 'decode.semantic_cd_from.loss_ce',
             'decode.semantic_cd_to.loss_ce', 'decode.loss_sc')
    for record in train:
        assert record['decode.loss_sc'] > 0
        assert record['loss'] == pytest.approx(sum(record[k] for k in parts), rel=1e-4)
    for branch in ('binary', 'semantic'):
        ours = {k: val[f'{branch}/{k}'] for k in MMSEG_KEYS}
        assert ours == {k: val[f'opencd_{branch}/{k}'] for k in MMSEG_KEYS}
    assert val['semantic/Sek'] == val['opencd_semantic/Sek']
    assert val['semantic/SCD_Score'] == val['opencd_semantic/SCD_Score']


def test_changeformer_with_mmchange_decoder(tmp_path, levir_root):
    cfg = child_config(tmp_path, 'changeformer_mit-b0_mmchange-head_levir-cd.py',
                       SMALL_RUN + f"""
train_dataloader = dict(dataset={opencd_levir_data(levir_root, 'train')})
val_dataloader = dict(dataset={opencd_levir_data(levir_root, 'val')})
test_dataloader = val_dataloader
val_evaluator = [dict(type='mmcd_plugin.BinaryChangeMetric'),
                 dict(type='mmseg.IoUMetric', iou_metrics=['mFscore', 'mIoU'], prefix='mmseg')]
""")
    work = tmp_path / 'work'
    run_tool(OPENCD, 'train.py', cfg, '--work-dir', str(work), cwd=tmp_path)
    assert (work / 'best_mIoU_iter_2.pth').exists()
    train, (val, ) = logged(work)
    for record in train:
        losses = [value for key, value in record.items()
                  if key.startswith('decode.') and '.loss_' in key or
                  key.startswith('decode.loss_')]
        # final map + 3 side outputs (deep supervision), BCE and Dice each
        assert len(losses) == 8 and record['loss'] == pytest.approx(sum(losses), rel=1e-4)
    assert {k: val[k] for k in MMSEG_KEYS} == {k: val[f'mmseg/{k}'] for k in MMSEG_KEYS}


def test_opencd_head_data_and_preprocessor_in_our_model_both_tools(tmp_path, levir_root):
    cfg = child_config(tmp_path, 'tiny_siamese-resnet_opencd-bit-head-data_levir-cd.py', f"""
train_cfg = dict(max_iters=2, val_interval=2)
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={str(levir_root)!r}))
val_dataloader = dict(dataset=dict(data_root={str(levir_root)!r}))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(interval=2))
""")
    work = tmp_path / 'work'
    run_tool(REPO, 'train.py', cfg, '--work-dir', str(work), cwd=tmp_path)
    _, (val, ) = logged(work)
    # the checkpoint of our tools/train.py, evaluated by Open-CD's tools/test.py
    shown = tmp_path / 'opencd_test'
    run_tool(OPENCD, 'test.py', cfg, str(work / 'iter_2.pth'), '--work-dir', str(shown),
             cwd=tmp_path)
    result = metrics_of_test_run(shown)
    assert {k: result[k] for k in ('F1', 'IoU', 'Kappa', 'mIoU')} == \
        {k: val[k] for k in ('F1', 'IoU', 'Kappa', 'mIoU')}


def test_our_data_in_opencd_model_both_tools(tmp_path, levir_root):
    cfg = child_config(tmp_path, 'bit_r18_mmcd-data_levir-cd.py', SMALL_RUN + f"""
train_dataloader = dict(dataset=dict(data_root={str(levir_root / 'train')!r}))
val_dataloader = dict(dataset=dict(data_root={str(levir_root / 'val')!r}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='mmcd_plugin.BinaryChangeMetric')
test_evaluator = val_evaluator
""")
    work = tmp_path / 'work'
    run_tool(OPENCD, 'train.py', cfg, '--work-dir', str(work), cwd=tmp_path)
    _, (val, ) = logged(work)
    # the checkpoint of Open-CD's tools/train.py, evaluated by our tools/test.py
    shown = tmp_path / 'our_test'
    run_tool(REPO, 'test.py', cfg, str(work / 'best_mIoU_iter_2.pth'), '--work-dir',
             str(shown), cwd=tmp_path)
    result = metrics_of_test_run(shown)
    assert {k: result[k] for k in ('F1', 'IoU', 'mIoU')} == {k: val[k]
                                                             for k in ('F1', 'IoU', 'mIoU')}


def test_both_loaders_give_the_preprocessed_inputs_of_each_other(opencd, levir_root,
                                                                 monkeypatch):
    """Our loader (RGB) + Open-CD's preprocessor with ``bgr_to_rgb=False``
    and Open-CD's loader (BGR) + ``bgr_to_rgb=True`` feed a model the same
    tensor; our preprocessor with ``bgr_to_rgb=True`` does too."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS, MODELS, DefaultScope
    monkeypatch.setenv('OPENCD_ROOT', opencd)
    ours_cfg = Config.fromfile(osp.join(INTEROP, 'bit_r18_mmcd-data_levir-cd.py'))
    theirs_cfg = Config.fromfile(
        osp.join(INTEROP, 'tiny_siamese-resnet_opencd-bit-head-data_levir-cd.py'))
    with DefaultScope.overwrite_default_scope('opencd'):
        ours = DATASETS.build(dict(ours_cfg.val_dataloader.dataset,
                                   data_root=str(levir_root / 'val')))[0]
        theirs = DATASETS.build(dict(theirs_cfg.val_dataloader.dataset,
                                     data_root=str(levir_root)))[0]
        preprocessors = [MODELS.build(dict(ours_cfg.model.data_preprocessor, bgr_to_rgb=flag))
                         for flag in (False, True)]
        our_preprocessor = MODELS.build(dict(
            type='mmcd_plugin.MultiModalDataPreprocessor', in_channels=(3, 3),
            mean=[[123.675, 116.28, 103.53]] * 2, std=[[58.395, 57.12, 57.375]] * 2,
            bgr_to_rgb=True))
    assert osp.basename(ours['data_samples'].img_path[0]) == \
        osp.basename(theirs['data_samples'].img_path[0])
    from_ours = preprocessors[0](dict(inputs=[ours['inputs']],
                                      data_samples=[ours['data_samples']]))
    from_theirs = preprocessors[1](dict(inputs=[theirs['inputs']],
                                        data_samples=[theirs['data_samples']]))
    ours_in_ours = our_preprocessor(dict(inputs=[theirs['inputs']],
                                         data_samples=[theirs['data_samples']]))
    assert torch.equal(from_ours['inputs'], from_theirs['inputs'])
    assert torch.allclose(ours_in_ours['inputs'], from_theirs['inputs'], atol=1e-5)
    assert torch.equal(from_ours['data_samples'][0].gt_sem_seg.data,
                       from_theirs['data_samples'][0].gt_sem_seg.data)


def test_consistency_wrapper_adds_eq17_to_the_opencd_decoder_losses(opencd):
    from mmengine.registry import DefaultScope
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmcd_plugin.models.losses import SemanticConsistencyLoss
    from mmcd_plugin.registry import MODELS
    head_args = dict(
        binary_cd_neck=dict(type='FeatureFusionNeck', policy='concat'),
        binary_cd_head=dict(type='mmcd_plugin.LSAFChangeHead', in_channels=[8, 8, 8],
                            channels=8),
        semantic_cd_head=dict(type='mmseg.FCNHead', in_channels=8, in_index=2, channels=8,
                              num_convs=1, num_classes=4, dropout_ratio=0.0))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('opencd'):
        wrapped = MODELS.build(dict(type='mmcd_plugin.MultiHeadWithConsistencyLoss',
                                    head_type='opencd.GeneralSCDHead', **head_args))
        bare = MODELS.build(dict(type='opencd.GeneralSCDHead', **head_args))
    bare.load_state_dict({k[len('head.'):]: v for k, v in wrapped.state_dict().items()})
    wrapped.train(), bare.train()
    feats = [torch.randn(2, 8, 16 // 2**i, 16 // 2**i) for i in range(3)]
    inputs = (feats, [f.flip(0) for f in feats])
    samples = []
    for i in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(16, 16)))
        change = torch.randint(0, 2, (1, 16, 16))
        change[0, 0, :4] = 255
        sample.gt_sem_seg = PixelData(data=change)
        sample.gt_sem_seg_from = PixelData(data=torch.randint(0, 4, (1, 16, 16)))
        sample.gt_sem_seg_to = PixelData(data=torch.randint(0, 4, (1, 16, 16)))
        samples.append(sample)
    losses = wrapped.loss(inputs, samples, {})
    expected = bare.loss(inputs, samples, {})
    logits = bare(inputs)
    change = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    expected['loss_sc'] = SemanticConsistencyLoss(no_change_index=None)(
        logits['seg_logits_from'], logits['seg_logits_to'], change)
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(losses[key], value), key
    assert wrapped.binary_cd_head is wrapped.head.binary_cd_head
    assert wrapped.semantic_cd_head_aux is wrapped.head.semantic_cd_head


def test_our_metrics_equal_opencd_scd_metric_on_random_maps(opencd):
    from opencd.evaluation import SCDMetric

    from mmcd_plugin.evaluation import SemanticChangeMetric
    rng = np.random.default_rng(7)
    samples = []
    for _ in range(3):
        maps = {}
        change = rng.integers(0, 2, size=(12, 10))
        for name in ('pred_sem_seg', 'gt_sem_seg'):
            maps[name] = dict(data=torch.from_numpy(rng.integers(0, 2, size=(1, 12, 10))))
        for date in ('from', 'to'):
            gt = rng.integers(1, 5, size=(1, 12, 10)) * (rng.random((1, 12, 10)) < 0.5)
            gt[rng.random(gt.shape) < 0.05] = 255
            maps[f'gt_sem_seg_{date}'] = dict(data=torch.from_numpy(gt))
            maps[f'pred_sem_seg_{date}'] = dict(
                data=torch.from_numpy(rng.integers(0, 5, size=(1, 12, 10)) * change))
        samples.append(maps)
    meta = dict(classes=('unchanged', 'changed'),
                semantic_classes=('unchanged', 'a', 'b', 'c', 'd'))
    theirs = SCDMetric(iou_metrics=['mFscore', 'mIoU'], cal_sek=True)
    ours = SemanticChangeMetric()
    for metric in (theirs, ours):
        metric.dataset_meta = meta
        metric.process(None, samples)
    expected, result = theirs.evaluate(3), ours.evaluate(3)
    assert set(expected) <= set(result)
    assert {key: result[key] for key in expected} == {k: float(v) for k, v in expected.items()}
