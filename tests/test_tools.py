"""End to end through the command-line tools: train a few iterations, load
the checkpoint in tools/test.py, resume; and a 2-process gloo run on CPU."""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmcd_plugin.utils.precision import bf16_unsupported_reason

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/tiny/tiny_siamese-resnet_levir-cd.py'


def make_levir_layout(root, n=3, size=64, seed=0):
    """LEVIR-CD-like splits: date 2 has bright squares where the label says change."""
    rng = np.random.default_rng(seed)
    for split in ('train', 'val', 'test'):
        for folder in ('A', 'B', 'label'):
            os.makedirs(osp.join(root, split, folder), exist_ok=True)
        for i in range(n):
            a = rng.integers(60, 120, (size, size, 3), np.uint8)
            b = a.copy()
            label = np.zeros((size, size), np.uint8)
            y, x = rng.integers(0, size - 16, 2)
            b[y:y + 16, x:x + 16] = 230
            label[y:y + 16, x:x + 16] = 255
            for folder, image in (('A', a), ('B', b), ('label', label)):
                cv2.imwrite(osp.join(root, split, folder, f'{i}.png'), image)


def data_options(root):
    return [f'{loader}.dataset.data_root={root}/{split}' for loader, split in
            (('train_dataloader', 'train'), ('val_dataloader', 'val'),
             ('test_dataloader', 'test'))]


def run_tool(*args, env=None, launcher=(sys.executable, )):
    proc = subprocess.run([*launcher, *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('levir'))
    make_levir_layout(root)
    work_dir = osp.join(root, 'work')
    options = ['train_cfg.max_iters=4', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=6',
               *data_options(root)]
    log = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options', *options)
    return root, work_dir, options, log


def test_train_writes_checkpoints_that_torch_alone_cannot_load_safely(trained):
    root, work_dir, _, log = trained
    ckpt = osp.join(work_dir, 'iter_4.pth')
    assert osp.isfile(ckpt) and 'F1' in log
    # Without the plugin, torch's weights_only default rejects mmengine's checkpoint ...
    proc = subprocess.run([sys.executable, '-c', f'import torch; torch.load({ckpt!r})'],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and 'UnpicklingError' in proc.stderr
    # ... with it, the same safe loader accepts it.
    import mmcd_plugin  # noqa: F401
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint['meta']['iter'] == 4


def test_test_tool_loads_checkpoint_and_prints_metrics(trained):
    root, work_dir, options, _ = trained
    log = run_tool('tools/test.py', CONFIG, osp.join(work_dir, 'iter_4.pth'), '--work-dir',
                   osp.join(root, 'test_work'), '--cfg-options', *options[4:])
    assert 'Load checkpoint from' in log
    assert re.search(r'F1: \d+\.\d+', log), log[-2000:]
    # Folded BatchNorms and channels-last: the same predictions, so the same metrics.
    fast = run_tool('tools/test.py', CONFIG, osp.join(work_dir, 'iter_4.pth'), '--work-dir',
                    osp.join(root, 'test_work_fast'), '--fuse-conv-bn', '--channels-last',
                    '--cfg-options', *options[4:])
    for key in ('F1', 'IoU', 'Kappa'):
        assert metric_values(fast, key) == metric_values(log, key) != []
    # bf16 (the test loop's autocast) with the same optimizations: it runs and scores
    bf16 = run_tool('tools/test.py', CONFIG, osp.join(work_dir, 'iter_4.pth'), '--work-dir',
                    osp.join(root, 'test_work_bf16'), '--fuse-conv-bn', '--channels-last',
                    '--precision', 'bf16', '--cfg-options', *options[4:])
    native = bf16_unsupported_reason('cpu') is None
    assert ("fp16=True" in bf16) == native and metric_values(bf16, 'F1') != []


def test_resume_continues_from_last_checkpoint(trained):
    root, work_dir, options, _ = trained
    options = ['train_cfg.max_iters=6' if o.startswith('train_cfg.max_iters') else o
               for o in options]
    log = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
                   '--cfg-options', *options)
    assert 'resumed epoch: 0, iter: 4' in log
    assert re.search(r'Iter\(train\) \[5/6\]', log) or re.search(r'Iter\(train\) \[6/6\]', log)
    import mmcd_plugin  # noqa: F401
    resumed = torch.load(osp.join(work_dir, 'iter_6.pth'), weights_only=True)
    assert resumed['meta']['iter'] == 6
    # the optimizer state came along: Adam's step counter continued from 4
    steps = {int(s['step']) for s in resumed['optimizer']['state'].values()}
    assert steps == {6}


def metric_values(log, key='F1'):
    return re.findall(rf'{key}: (\d+\.\d+)', log)


def test_two_process_gloo_training_and_testing_on_cpu(tmp_path):
    root = str(tmp_path)
    make_levir_layout(root, n=5)
    work_dir = osp.join(root, 'dist_work')
    dist_env = dict(OMP_NUM_THREADS='1', PORT='29517', PYTHON=sys.executable)
    log = run_tool('tools/dist_train.sh', CONFIG, '2', '--work-dir', work_dir,
                   '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                   'default_hooks.checkpoint.interval=2', *data_options(root),
                   env=dist_env, launcher=('bash', ))
    # torchrun exits 0 only when both ranks finished
    assert 'Distributed training: True' in log
    assert "model_wrapper_cfg = dict(device_ids=None, type='MMDistributedDataParallel')" in log
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    # 5 test tiles on 2 ranks: the padded sample must not be counted twice
    dist_log = run_tool('tools/dist_test.sh', CONFIG, ckpt, '2', '--work-dir',
                        osp.join(root, 'dist_test'), '--cfg-options', *data_options(root),
                        env=dist_env, launcher=('bash', ))
    single_log = run_tool('tools/test.py', CONFIG, ckpt, '--work-dir',
                          osp.join(root, 'single_test'), '--cfg-options', *data_options(root))
    assert metric_values(dist_log) and metric_values(dist_log) == metric_values(single_log)
    assert metric_values(dist_log, 'OA') == metric_values(single_log, 'OA')


DEMO_CONFIG = 'configs/stsf/stsf_tiny_synthetic-sn6.py'


def test_demo_pipeline_trains_tests_and_writes_georeferenced_pictures(tmp_path):
    """The README main job on a small scale: synthetic optical-SAR data ->
    train -> test with --show-dir (PNG panels + GeoTIFF predictions) and --tta."""
    import rasterio

    from mmcd_plugin.datasets.synthetic import make_synthetic_delta_sn6
    data = str(tmp_path / 'syn')
    make_synthetic_delta_sn6(data, num_tiles=8, tile_size=64, seed=1, progress=False)
    work_dir = str(tmp_path / 'work')
    options = [f'{loader}.dataset.data_root={data}' for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
                'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    run_tool('tools/train.py', DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
             'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
             'default_hooks.checkpoint.interval=3', *options)
    ckpt = osp.join(work_dir, 'iter_3.pth')
    log = run_tool('tools/test.py', DEMO_CONFIG, ckpt, '--work-dir', work_dir, '--show-dir',
                   'vis', '--cfg-options', *options)
    for key in ('F1_bcd', 'F1_clf', 'mIoU', 'OA'):
        assert re.search(rf'{key}: \d+\.\d+', log), key
    test_names = [line.strip()[:-len('.tif')] for line in open(osp.join(data, 'test_list.txt'))]
    vis_dirs = [d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d, 'vis'))]
    assert len(vis_dirs) == 1
    vis = osp.join(work_dir, vis_dirs[0], 'vis')
    for name in test_names:
        panel = cv2.imread(osp.join(vis, name + '.png'))
        assert panel is not None and panel.shape[1] >= 4 * 64
        with rasterio.open(osp.join(vis, name + '_pred.tif')) as pred, \
                rasterio.open(osp.join(data, 'pre-event', name + '.tif')) as source:
            assert pred.crs == source.crs and pred.transform == source.transform
            assert pred.read(1).max() < 7 and pred.colormap(1)[0][:3] == (0, 0, 0)
    log = run_tool('tools/test.py', DEMO_CONFIG, ckpt, '--work-dir', work_dir, '--tta',
                   '--cfg-options', *options)
    assert re.search(r'F1_bcd: \d+\.\d+', log)


def test_missing_weights_and_data_stop_before_building(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
         'model.backbone.init_cfg.type=Pretrained',
         'model.backbone.init_cfg.checkpoint=checkpoints/no_such_resnet.pth',
         'train_dataloader.dataset.data_root=/no/such/levir'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    header = lines.index('Cannot start: files this config needs are missing')
    problems = lines[header + 1:]
    # all three problems at once: the weights, the train root, the default val root
    assert len(problems) == 3
    assert "model.backbone.init_cfg.checkpoint = 'checkpoints/no_such_resnet.pth' not found" \
        in problems[0]
    assert "train_dataloader.dataset.data_root = '/no/such/levir' not found: put " \
        "LEVIRCDDataset there" in problems[1]
    assert "val_dataloader.dataset.data_root = 'data/LEVIR-CD/val'" in problems[2]
    assert not os.listdir(tmp_path)  # nothing was built or written
