"""Apply a single-image transform to each date separately, by modality."""
from typing import Dict, Sequence

from mmcd_plugin.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


@TRANSFORMS.register_module()
class PerImageTransform(BaseTransform):
    """Run any single-image transform (e.g. mmseg's ``PhotoMetricDistortion``)
    on each date's image independently, only for the chosen modalities.

    Photometric changes must not be shared between dates (they would be
    a "change" the model learns to ignore anyway) and must not touch SAR
    intensities with optical colour jitter; hence per image and per modality.
    Label maps are not passed to the wrapped transform.

    Args:
        transform (dict): Config of the wrapped transform; it sees
            ``results['img']`` as one image.
        modalities (Sequence[str]): Modalities it applies to.
            Defaults to ('optical', ).
    """

    def __init__(self, transform: dict, modalities: Sequence[str] = ('optical', )):
        self.transform_cfg = transform
        self.inner = TRANSFORMS.build(transform)
        self.modalities = tuple(modalities)

    def transform(self, results: Dict) -> Dict:
        modalities = results.get('modalities', ['optical', 'optical'])
        images = list(results['img'])
        for index, modality in enumerate(modalities):
            if modality in self.modalities:
                images[index] = self.inner({'img': images[index]})['img']
        results['img'] = images
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.inner!r}, modalities={self.modalities})'
