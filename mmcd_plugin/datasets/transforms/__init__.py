from .change_text import GenerateChangeText
from .formatting import PackChangeInputs
from .loading import LoadBiTemporalImages, LoadChangeAnnotations
from .paired_geometric import (PairedRandomCrop, PairedRandomFlip,
                               PairedRandomRotate90, PairedResize)
from .per_image import PerImageTransform
from .temporal_exchange import TemporalExchange

__all__ = ['GenerateChangeText', 'LoadBiTemporalImages', 'LoadChangeAnnotations',
           'PackChangeInputs', 'PairedRandomCrop', 'PairedRandomFlip', 'PairedRandomRotate90',
           'PairedResize', 'PerImageTransform', 'TemporalExchange']
