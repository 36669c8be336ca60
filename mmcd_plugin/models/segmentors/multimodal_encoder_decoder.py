"""Pseudo-siamese optical-SAR encoder-decoder with prior-guided fusion (STSF-Net).

Sun, Sun & Wang, "Prior-guided Fusion of Multimodal Features for Change
Detection from Optical-SAR Images" (STSF-Net), Section IV-A / Fig. 2:
modality-specific encoders (MSFE) give S_opt, S_sar; the spatio-temporal
common feature module (STCFM, Eq. 1-5) gives C_opt, C_sar; a frozen semantic
prior generator (SPG) gives P_opt, P_sar; the prior-guided fusion module
(PGFFM, Eq. 6-8) fuses them scale by scale; a decoder and a classifier output
the dense semantic change map.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder

MODALITIES = ('optical', 'sar')


@MODELS.register_module()
class MultimodalEncoderDecoder(BiTemporalEncoderDecoder):
    """Optical-SAR change detector: two encoders, common features, priors,
    prior-guided fusion, decoder (STSF-Net's segmentor).

    ``inputs`` are the two dates concatenated along channels (Open-CD
    convention) and split with ``in_channels``; ``modality_order`` says which
    date is which modality: ``('optical', 'sar')`` as in the paper (optical
    pre-event, SAR post-event) or ``('sar', 'optical')`` as in the Shuguang
    pair. Features are always named by modality, so the fusion computes
    ``S_opt - S_sar`` (Eq. 7) whatever the date order.

    Args:
        optical_encoder (dict): Optical encoder (STSF-Net: ``HieraAdapter``).
        sar_encoder (dict, optional): SAR encoder (STSF-Net: Swin-T from
            scratch). None shares the optical encoder (siamese; the SAR input
            must then have the optical channel count). Defaults to None.
        common_neck (dict): ``neck(S_opt, S_sar) -> (C_opt, C_sar)`` (STCFM).
        fusion_neck (dict): ``neck(S_opt, S_sar, C_opt, C_sar, P_opt, P_sar)
            -> fused`` (PGFFM).
        decode_head (dict): Decoder + classifier on the fused features.
        prior_generator (dict, optional): ``gen(I_opt, I_sar) -> (P_opt,
            P_sar)`` (SPG); None gives the fusion neck no priors (Table VII
            "none"). Its ``encoder='optical_encoder'`` makes the SPG run the
            optical encoder's frozen SAM2 trunk without adapters: one copy of
            the SAM2 weights, as the parameter count of Table IX implies.
            Defaults to None.
        modality_order (Sequence[str]): Modality of date 1 and date 2.
            Defaults to ('optical', 'sar').
        auxiliary_head, train_cfg, test_cfg, data_preprocessor, in_channels,
            init_cfg: As in :class:`BiTemporalEncoderDecoder`.
    """

    def __init__(self, optical_encoder: dict, common_neck: dict, fusion_neck: dict,
                 decode_head: dict, sar_encoder: Optional[dict] = None,
                 prior_generator: Optional[dict] = None,
                 modality_order: Sequence[str] = MODALITIES, auxiliary_head=None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 in_channels: Optional[Sequence[int]] = None, init_cfg=None):
        if sorted(modality_order) != sorted(MODALITIES):
            raise ValueError(f'modality_order must order {MODALITIES}, got {modality_order}')
        self._init_segmentor(data_preprocessor, init_cfg)
        self.modality_order = tuple(modality_order)
        self.optical_encoder = MODELS.build(optical_encoder)
        self.sar_encoder = MODELS.build(sar_encoder) if sar_encoder is not None else None
        self.common_neck = MODELS.build(common_neck)
        self.prior_generator = self._build_prior_generator(prior_generator)
        self.fusion_neck = MODELS.build(fusion_neck)
        self._init_heads(decode_head, auxiliary_head, in_channels, train_cfg, test_cfg)

    def _build_prior_generator(self, cfg: Optional[dict]):
        if cfg is None:
            return None
        if cfg.get('encoder') != 'optical_encoder':
            return MODELS.build(cfg)
        from ..backbones.hiera_adapter import HieraTrunkView
        if not hasattr(self.optical_encoder, 'freeze_trunk'):
            raise TypeError("prior_generator.encoder='optical_encoder' needs a HieraAdapter "
                            f'optical encoder, got {type(self.optical_encoder).__name__}')
        cfg = {key: value for key, value in cfg.items() if key != 'encoder'}
        return MODELS.build(cfg, default_args=dict(encoder=HieraTrunkView(self.optical_encoder)))

    def _priors_share_optical_pass(self) -> bool:
        """Whether the optical features and both priors can come from one
        batched pass of the shared SAM2 trunk: without gradients (the priors
        must not keep activations for backward), with a separate SAR encoder
        and a prior generator on the optical encoder's trunk."""
        from ..backbones.hiera_adapter import HieraTrunkView
        return not torch.is_grad_enabled() and self.sar_encoder is not None and \
            isinstance(getattr(self.prior_generator, 'encoder', None), HieraTrunkView)

    def _encode_optical_and_priors(self, images: Dict[str, Tensor]):
        """S_opt, P_opt, P_sar from one call of the optical encoder: the
        optical image with adapters, the prior generator's optical and SAR
        images without (the same numbers as separate calls)."""
        prior_opt, prior_sar = self.prior_generator.prepare(images['optical'], images['sar'])
        batch = images['optical'].shape[0]
        feats = self.optical_encoder(torch.cat([images['optical'], prior_opt, prior_sar]),
                                     adapted_samples=batch)
        return ([f[:batch] for f in feats], [f[batch:2 * batch] for f in feats],
                [f[2 * batch:] for f in feats])

    def split_modalities(self, inputs: Tensor) -> Dict[str, Tensor]:
        """``{'optical': I_opt, 'sar': I_sar}`` from the concatenated dates."""
        return dict(zip(self.modality_order, self.split_inputs(inputs)))

    def encode(self, images: Dict[str, Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Modality-specific features S_opt, S_sar (MSFE)."""
        sar_encoder = self.sar_encoder or self.optical_encoder
        return list(self.optical_encoder(images['optical'])), \
            list(sar_encoder(images['sar']))

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        images = self.split_modalities(inputs)
        if self._priors_share_optical_pass():
            specific_opt, priors_opt, priors_sar = self._encode_optical_and_priors(images)
            specific_sar = list(self.sar_encoder(images['sar']))
        else:
            specific_opt, specific_sar = self.encode(images)
            priors_opt, priors_sar = self.prior_generator(images['optical'], images['sar']) \
                if self.prior_generator is not None else (None, None)
        common_opt, common_sar = self.common_neck(specific_opt, specific_sar)
        return self.fusion_neck(specific_opt, specific_sar, common_opt, common_sar,
                                priors_opt, priors_sar)
