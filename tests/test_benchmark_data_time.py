"""tools/analysis_tools/benchmark_data_time.py: the loop it trains, for how
long, and the iterations it reads (not the speed of this machine)."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config
from test_tools import REPO, make_levir_layout

spec = importlib.util.spec_from_file_location(
    'benchmark_data_time', osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_data_time.py'))
benchmark_data_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_data_time)


@pytest.fixture
def tiny_config(tmp_path):
    """The tiny siamese config on 5 training pairs in batches of 2 (3
    batches an epoch, the last one short)."""
    make_levir_layout(str(tmp_path), n=5)

    def build(**options):
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'tiny', 'tiny_siamese-resnet_levir-cd.py'))
        cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(tmp_path / 'train'),
                             'log_level': 'WARNING', **options})
        return cfg
    return build


def epoch_based(loop):
    """Epochs of 2 batches (the short last batch dropped: the tiny model's
    BatchNorm needs 2 samples)."""
    return {'train_dataloader.sampler.type': 'DefaultSampler', 'train_dataloader.drop_last': True,
            'train_cfg': dict(type=loop, max_epochs=1)}


def test_epochs_covering_counts_the_batches_of_an_epoch(tiny_config):
    cfg = tiny_config()
    assert [benchmark_data_time.epochs_covering(cfg, n) for n in (1, 3, 4, 6, 7)] == \
        [1, 1, 2, 2, 3]
    cfg = tiny_config(**{'train_dataloader.drop_last': True})  # 2 batches an epoch
    assert [benchmark_data_time.epochs_covering(cfg, n) for n in (2, 3, 7)] == [1, 2, 4]


@pytest.mark.parametrize('options, loop, timed', [
    ({}, 'PrefetchingIterBasedTrainLoop', 4),
    # 5 iterations asked for: three whole epochs of 2, the first iteration skipped
    (epoch_based('EpochBasedTrainLoop'), 'EpochBasedTrainLoop', 5),
    (epoch_based('PrefetchingEpochBasedTrainLoop'), 'PrefetchingEpochBasedTrainLoop', 5)])
def test_measure_trains_the_config_loop_and_reads_its_iterations(tiny_config, options, loop,
                                                                   timed):
    result = benchmark_data_time.measure(tiny_config(**options), iters=4, skip=1)
    assert result['iters'] == timed
    assert result['loop'] == f'type={loop}'
    assert result['num_workers'] == 2
    assert 0 < result['data_time_s'] < result['iter_time_s']
    assert result['share'] == pytest.approx(result['data_time_s'] / result['iter_time_s'])
