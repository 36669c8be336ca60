from mmcd_plugin.registry import DATASETS
from .bi_temporal_dataset import BiTemporalDataset


@DATASETS.register_module()
class LEVIRCDDataset(BiTemporalDataset):
    """LEVIR-CD (Chen & Shi, Remote Sensing 2020): building change, 0.5 m.

    Layout ``{train,val,test}/{A,B,label}/*.png`` with 0/255 labels (load them
    with ``LoadChangeAnnotations(binary=True)``); point ``data_root`` at a split
    folder. Tiles are 1024^2, often pre-cut to 256^2.
    """
