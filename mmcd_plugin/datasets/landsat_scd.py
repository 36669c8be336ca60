from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class LandsatSCDDataset(BiTemporalDataset):
    """Landsat-SCD (Yuan et al., 2022), 416^2 Landsat tiles.

    Layout ``{A,B,labelA,labelB}/*.png`` + ``{train,val,test}_list.txt``. The
    RGB-coded labels are converted once with
    ``tools/dataset_converters/landsat_scd.py`` into ``labelA_index/`` and
    ``labelB_index/``; the change map is derived ("label != 0").
    """

    METAINFO = dict(
        classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]],
        modalities=('optical', 'optical'),
        semantic_classes=('no change', 'farmland', 'desert', 'building', 'water'),
        semantic_palette=[[255, 255, 255], [0, 155, 0], [255, 165, 0], [230, 30, 100],
                          [0, 170, 240]])

    DATA_PREFIX = dict(img_path_from='A', img_path_to='B', seg_map_path_from='labelA_index',
                       seg_map_path_to='labelB_index')
