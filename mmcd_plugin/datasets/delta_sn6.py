import os.path as osp

from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class DeltaSN6Dataset(BiTemporalDataset):
    """Delta-SN6 optical-SAR semantic change detection (STSF-Net paper,
    built on SpaceNet 6 Rotterdam), 900^2 GeoTIFF tiles.

    Layout ``{pre-event,post-event,target}/`` + ``{train,val,test}_list.txt``.
    Ids keep the SpaceNet 6 naming
    ``SN6_Train_AOI_11_Rotterdam_PS-RGB_<t1>_<t2>_tile_<n>``: the pre-event
    optical image and the target carry that name, the post-event SAR image the
    same name with ``PS-RGB`` replaced by ``SAR-Intensity``. SAR is quad-pol
    (HH, HV, VH, VV); the authors use the first three bands of each image.
    """

    METAINFO = dict(
        classes=('background', 'added building', 'added road', 'added water',
                 'disappeared building', 'disappeared road', 'disappeared water'),
        palette=[[0, 0, 0], [255, 0, 0], [255, 255, 0], [0, 0, 255], [128, 0, 128],
                 [255, 128, 0], [0, 255, 255]],
        modalities=('optical', 'sar'))

    #: Delta-SN6 change classes whose meaning flips with the date order.
    CLASS_SWAP = {1: 4, 2: 5, 3: 6, 4: 1, 5: 2, 6: 3}

    DATA_PREFIX = dict(img_path_from='pre-event', img_path_to='post-event',
                       seg_map_path='target')
    IMG_SUFFIX = SEG_MAP_SUFFIX = '.tif'

    def sample_files(self, sample_id):
        files = super().sample_files(sample_id)
        sar_name = sample_id.replace('PS-RGB', 'SAR-Intensity') + self.img_suffix[1]
        files['img_path_to'] = osp.join(self.data_prefix['img_path_to'], sar_name)
        return files
