from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class SYSUCDDataset(BiTemporalDataset):
    """SYSU-CD (Shi et al., TGRS 2022): ``{train,val,test}/{time1,time2,label}``,
    256^2 tiles, 0/255 labels."""

    DATA_PREFIX = dict(img_path_from='time1', img_path_to='time2', seg_map_path='label')
