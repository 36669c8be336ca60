import os.path as osp

from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class BRIGHTDataset(BiTemporalDataset):
    """BRIGHT disaster building-damage benchmark (optical pre-event, SAR
    post-event), 1024^2 GeoTIFF tiles.

    Layout ``{pre-event,post-event,target}/<id>_{pre_disaster,post_disaster,
    building_damage}.tif`` with split lists of ids. The post-event SAR has a
    single band.
    """

    METAINFO = dict(classes=('background', 'intact', 'damaged', 'destroyed'),
                    palette=[[0, 0, 0], [0, 200, 0], [255, 165, 0], [220, 0, 0]],
                    modalities=('optical', 'sar'))

    DATA_PREFIX = dict(img_path_from='pre-event', img_path_to='post-event',
                       seg_map_path='target')
    IMG_SUFFIX = SEG_MAP_SUFFIX = '.tif'

    def strip_suffix(self, name):
        stem = super().strip_suffix(name)
        return stem[:-len('_pre_disaster')] if stem.endswith('_pre_disaster') else stem

    def sample_files(self, sample_id):
        names = dict(img_path_from=f'{sample_id}_pre_disaster{self.img_suffix[0]}',
                     img_path_to=f'{sample_id}_post_disaster{self.img_suffix[1]}',
                     seg_map_path=f'{sample_id}_building_damage{self.seg_map_suffix}')
        return {role: osp.join(folder, names[role])
                for role, folder in self.data_prefix.items()}
