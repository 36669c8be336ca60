"""An Open-CD semantic change (SCD) decoder plus LSAFNet's consistency loss.

Open-CD's SCD models (``SiamEncoderMultiDecoder`` with ``GeneralSCDHead``
and the other ``MultiHeadDecoder`` subclasses) train each branch on its own
label: the change head on ``gt_sem_seg`` and each semantic head on its
date's map. LSAFNet's semantic-consistency loss (Eq. 17,
:class:`SemanticConsistencyLoss`) needs both dates' semantic logits and the
change label at once, so it has no place there. This module wraps such a
decoder, built from the same config keys, and adds the loss to the
decoder's own losses (Eq. 18, ``L = L_BCD + L_SS1 + L_SS2 + L_SC``, the
weights being those of the wrapped heads' losses). Forward, prediction,
state-dict layout below ``head.`` and the attributes the model reads
(``binary_cd_head``, ``semantic_cd_head``, ``semantic_cd_head_aux``) are the
wrapped decoder's, so an Open-CD config changes two lines::

    decode_head=dict(type='mmcd_plugin.MultiHeadWithConsistencyLoss',
                     head_type='opencd.GeneralSCDHead', ...)

Open-CD's semantic heads predict the K land-cover classes only (no "no
change" channel), hence the default ``no_change_index=None`` of the loss
here; LSAFNet's own model keeps that channel (index 0).

Where the paper is silent: the loss is computed on the semantic logits as
the decoder returns them (at feature resolution), bilinearly resized to the
label inside :class:`SemanticConsistencyLoss`, and the change label is the
model's ``gt_sem_seg`` with its ``ignore_index`` pixels left out.
"""
from typing import Dict, List, Sequence

import torch
from mmengine.model import BaseModule
from mmseg.utils import ConfigType, SampleList
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS

SEMANTIC_LOGITS = ('seg_logits_from', 'seg_logits_to')


@MODELS.register_module()
class MultiHeadWithConsistencyLoss(BaseModule):
    """A multi-head SCD decoder (Open-CD's interface) + Eq. 17 of LSAFNet.

    Args:
        head_type (str): Registered type of the wrapped decoder, e.g.
            ``'opencd.GeneralSCDHead'``. Its ``forward`` returns a dict with
            ``seg_logits``, ``seg_logits_from`` and ``seg_logits_to``; it has
            ``loss_by_feat`` and ``predict`` as Open-CD's ``MultiHeadDecoder``.
        consistency_loss (dict): The added loss. Defaults to
            ``dict(type='SemanticConsistencyLoss', no_change_index=None)``.
        ignore_index (int): Change-label value left out of the added loss.
            Defaults to 255.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
        **head_args: The wrapped decoder's arguments (``binary_cd_head``,
            ``binary_cd_neck``, ``semantic_cd_head``...).
    """

    def __init__(self, head_type: str,
                 consistency_loss: Dict = dict(type='SemanticConsistencyLoss',
                                               no_change_index=None),
                 ignore_index: int = 255, init_cfg=None, **head_args):
        super().__init__(init_cfg)
        self.head = MODELS.build(dict(type=head_type, **head_args))
        for name in ('forward', 'loss_by_feat', 'predict'):
            if not callable(getattr(self.head, name, None)):
                raise TypeError(f'{head_type} is not a multi-head SCD decoder: it has no '
                                f'{name}(); MultiHeadWithConsistencyLoss wraps decoders '
                                "with Open-CD's MultiHeadDecoder interface.")
        self.consistency_loss: nn.Module = MODELS.build(consistency_loss)
        self.ignore_index = ignore_index

    @property
    def binary_cd_head(self) -> nn.Module:
        return self.head.binary_cd_head

    @property
    def semantic_cd_head(self) -> nn.Module:
        return self.head.semantic_cd_head

    @property
    def semantic_cd_head_aux(self) -> nn.Module:
        return self.head.semantic_cd_head_aux

    def forward(self, inputs) -> Dict[str, Tensor]:
        return self.head(inputs)

    def predict(self, inputs, batch_img_metas: List[dict], test_cfg: ConfigType,
                **kwargs) -> Dict[str, Tensor]:
        return self.head.predict(inputs, batch_img_metas, test_cfg, **kwargs)

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """The wrapped decoder's losses plus the consistency loss."""
        seg_logits = self.forward(inputs)
        if not isinstance(seg_logits, dict) or not set(SEMANTIC_LOGITS) <= set(seg_logits):
            raise TypeError(f'{type(self.head).__name__}.forward must return a dict with '
                            f'{list(SEMANTIC_LOGITS)} (an Open-CD multi-head SCD decoder such '
                            'as opencd.GeneralSCDHead); the consistency loss needs both '
                            "dates' semantic logits.")
        change = torch.stack([sample.gt_sem_seg.data for sample in batch_data_samples])
        losses = self.head.loss_by_feat(dict(seg_logits), batch_data_samples)
        loss_sc = self.consistency_loss(*(seg_logits[key] for key in SEMANTIC_LOGITS),
                                        change[:, 0], ignore_index=self.ignore_index)
        losses[self.consistency_loss.loss_name] = loss_sc
        return losses
