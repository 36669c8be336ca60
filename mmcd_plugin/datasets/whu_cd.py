from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class WHUCDDataset(BiTemporalDataset):
    """WHU-CD building change (Ji et al., TGRS 2019), Open-CD layout
    ``{train,val,test}/{A,B,label}/*.png``, 0/255 labels."""
