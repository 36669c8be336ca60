from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class WuhanHetDataset(BiTemporalDataset):
    """Wuhan-Het heterogeneous change detection: Sentinel-2 optical
    (``rgb/*.tif``, 3 bands used) and SAR (``sar/*.png``, 1 band), 0/255 change
    masks (``mask/*.png``) and ``{train,val,test}_set.txt``; 256^2 tiles.
    Date 1 is taken to be the optical image, as in STSF-Net's setting.
    """

    METAINFO = dict(classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]],
                    modalities=('optical', 'sar'))

    DATA_PREFIX = dict(img_path_from='rgb', img_path_to='sar', seg_map_path='mask')
    IMG_SUFFIX = ('.tif', '.png')
