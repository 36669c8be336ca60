from .bi_temporal_dataset import BiTemporalDataset
from .bright import BRIGHTDataset
from .delta_sn6 import DeltaSN6Dataset
from .landsat_scd import LandsatSCDDataset
from .levir_cd import LEVIRCDDataset
from .multi_class_cd import MultiClassCDDataset
from .second import SECONDDataset
from .sysu_cd import SYSUCDDataset
from .transforms import *  # noqa: F401,F403
from .whu_cd import WHUCDDataset
from .wuhan_het import WuhanHetDataset

__all__ = ['BiTemporalDataset', 'BRIGHTDataset', 'DeltaSN6Dataset', 'LandsatSCDDataset',
           'LEVIRCDDataset', 'MultiClassCDDataset', 'SECONDDataset', 'SYSUCDDataset',
           'WHUCDDataset', 'WuhanHetDataset']
