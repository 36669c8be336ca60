from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class MultiClassCDDataset(BiTemporalDataset):
    """Generic multi-class change detection (Gaza-Change-v2 style, as in S2M):
    ``A/``, ``B/``, ``label/`` with class-index labels, 0 = no change. Give the
    change classes in the config, e.g.
    ``metainfo=dict(classes=('no change', 'destroyed building', ...), palette=[...])``.
    """
