from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class SECONDDataset(BiTemporalDataset):
    """SECOND semantic change detection (Yang et al., TGRS 2022), 512^2 tiles.

    Layout ``{train,val}/{im1,im2,label1,label2}/*.png``. The official labels
    are RGB-coded; convert them once with
    ``tools/dataset_converters/second.py``, which writes class-index maps to
    ``label1_index/`` and ``label2_index/`` (the default prefixes here). There
    is no change-label file: the change map is "label1 != 0" (use
    ``LoadChangeAnnotations(derive_change=True)``).
    """

    METAINFO = dict(
        classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]],
        modalities=('optical', 'optical'),
        semantic_classes=('unchanged', 'water', 'ground', 'low vegetation', 'tree',
                          'building', 'sports field'),
        semantic_palette=[[255, 255, 255], [0, 0, 255], [128, 128, 128], [0, 128, 0],
                          [0, 255, 0], [128, 0, 0], [255, 0, 0]])

    DATA_PREFIX = dict(img_path_from='im1', img_path_to='im2',
                       seg_map_path_from='label1_index', seg_map_path_to='label2_index')
