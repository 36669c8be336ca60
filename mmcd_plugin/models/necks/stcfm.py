"""Spatio-temporal common feature modeling (STCFM) of STSF-Net.

Paper: "Prior-guided Fusion of Multimodal Features for Change Detection from
Optical-SAR Images" (STSF-Net), Section IV-C "Spatio-temporal common feature
alignment", Eq. 1-5 and Fig. 4. At every scale i the modality-specific
features S^i_opt, S^i_sar (same channel count C_i) pass through

* the bi-temporal **feature interaction module (FIM)**, Eq. 1-2: both are
  projected into a common space by a modality-alignment layer, exchange
  information by a global cross-attention (each modality's positions attend
  to all of the other's; the text names it, no equation gives it),
  are concatenated, and a Conv3x3 -> BN -> sigmoid projector gives a spatial
  attention map A^i in [0, 1]^{H x W x 1}; ``C^st_m = S_m (.) A_m``
  re-weights the *original* features (Eq. 2 multiplies S^i_m, not the
  aligned ones);
* the **graph structure feature modeling (GSFM)**, Eq. 3-5: every spatial
  position is a graph node; per modality
  ``X1 = A (C^st W1) + b1`` (Eq. 3), ``X2 = X1 - C^st`` (Eq. 4, the
  subtractive residual), ``C = ReLU(A (X2 W2) + b2)`` (Eq. 5); the node
  sequence is laid back onto the H x W grid and refined by a convolutional
  layer.

Points the paper leaves open, each an argument of
:class:`SpatioTemporalCommonFeatureModeling`:

* *Modality-alignment layer* (not specified): a 1x1 Conv-BN-ReLU per modality
  (unshared weights, the per-modality BN aligns the two distributions) to
  ``C // align_reduction`` channels (at least ``min(C, 8)``). The aligned
  features only feed the attention projector (Eq. 1); ``align_reduction=None``
  drops the layer and concatenates the raw features, as Eq. 1 literally writes.
* *Cross-attention* (named in the text, "The FIM captures temporal
  dependencies through a cross-attention mechanism", with no equation):
  single-head, exact softmax, global, at the aligned width, residual, one
  direction per modality, placed before the Eq. 1 projector. Global because
  the text asks for long-range dependencies; the keys and values are the
  other modality's features average-pooled by ``kv_reduction`` (default
  8, 4, 2, 1 at strides 4-32, SegFormer's spatial-reduction ratios), so at a
  512 x 512 input every position attends to the other image's 16 x 16
  summary. Memory is O(HW) through the fused attention kernel (see
  :class:`CrossModalAttention`). ``kv_reduction=1`` is full N x N attention
  (9.5 GFLOPs at 512 x 512 with Hiera-S channels, almost all at stride 4;
  on 2 CPU cores the neck then takes 0.61 s in inference and 2.60 s in
  training against 0.09 / 0.28 s with the pooling and 0.10 / 0.22 s
  gate-only: ``benchmark_stcfm_memory.py --sizes 512``). ``cross_attention=False``
  is the gate-only FIM (Eq. 1-2 alone), an ablation.
* *One map or two* (Eq. 1 writes A^i with one channel, Eq. 2 writes A^i_m):
  ``attention='shared'`` (default, literal Eq. 1) applies the one map to both
  modalities; ``'per_modality'`` predicts one map per modality.
* *Adjacency matrix A* (not defined): ``graph='grid'`` (default) is the
  8-neighbour pixel grid with self loops, symmetrically normalised,
  ``D^-1/2 (Adj + I) D^-1/2`` with exact border/corner degrees, applied as a
  fixed 3x3 depthwise aggregation between two ``d^-1/2`` scalings: O(HW)
  memory, an N x N matrix is never formed. ``graph=dict(type='grid',
  neighbours=4)`` uses the 4-neighbourhood. ``graph='knn'`` (or
  ``dict(type='knn', k=8, metric='euclidean', chunk_size=1024)``) builds a
  feature-similarity graph per sample and modality from C^st_m: the k nearest
  other nodes, symmetrised by union, self loops, the same normalisation.
  It is computed in chunks of rows (O(chunk * N) temporary, O(N k) kept,
  sparse aggregation) but costs O(N^2 C) time: about 2.6e10 multiply-adds
  for the stride-4 map of a 512 x 512 input at C = 96, 16x that at 1024.
  The kNN selection is not differentiable; the graph is treated as constant.
  The graph is built once per modality and reused by both layers (Eq. 3, 5).
* *GCN weights* W^{i,1}_m, W^{i,2}_m (C x C, per modality): full matrices for
  ``gcn_reduction=1``; otherwise low-rank ``W = U V`` with inner width
  ``C // gcn_reduction`` (at least ``min(C, 8)``), Eq. 3-5 unchanged. Since A
  mixes nodes and W mixes channels, ``A (X U V) = (A (X U)) V``: the graph
  aggregation runs at the inner width. Biases b^{i,1}_m, b^{i,2}_m are added
  after the aggregation, as written.
* *Refinement layer* after GSFM (not specified): ``refine='dwconv'`` (default,
  depthwise 3x3 Conv-BN-ReLU), ``'conv'`` (full 3x3 Conv-BN-ReLU, 9 C^2
  weights), ``'dwsep'`` (depthwise 3x3 + pointwise 1x1, BN, ReLU) or
  ``'none'``.
* *Ablation* (Table V): ``use_fim`` / ``use_gsfm`` switch a stage off; a
  disabled stage is the identity (``C^st = S`` resp. ``C = C^st``), so
  ``use_fim=use_gsfm=False`` is the baseline without STCFM.

Parameter budget: Table VI gives 0.72 M trainable parameters for the whole
"Siamese SAM2" model (adapters + STCFM + PGFFM + decoder) and 29.01 M for
SAM2 + Swin, which leaves 1.49 M beside Swin-T's 27.52 M; so the defaults are
light (``align_reduction=16, gcn_reduction=32, refine='dwconv'``: 0.37 M at
in_channels [96, 192, 384, 768], of which FIM 0.13 M and its cross-attention
0.03 M; 0.34 M gate-only). Full-width settings (``align_reduction=1,
gcn_reduction=1``) cost 11.0 M with ``refine='dwconv'`` (4.8 M gate-only) and
25.1 M with ``refine='conv'``.

Memory is linear in the number of pixels with the grid graph
(``tools/analysis_tools/benchmark_stcfm_memory.py``).
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS

GraphOperator = Callable[[Tensor], Tensor]


def reduced_width(channels: int, reduction: int, minimum: int = 8) -> int:
    """``channels // reduction``, but at least ``min(channels, minimum)``."""
    return max(channels // reduction, min(channels, minimum))


# --------------------------------------------------------------------------
# Graphs: a strategy object turns node features (B, C, H, W) into an operator
# ``op(x) -> A x`` acting on any (B, C', H, W) tensor laid on the same nodes.
# --------------------------------------------------------------------------

def grid_kernel(neighbours: int = 8, self_loops: bool = True, dtype=None,
                device=None) -> Tensor:
    """The 3x3 pattern of ``Adj (+ I)`` of a pixel grid: (3, 3) tensor."""
    if neighbours == 8:
        kernel = torch.ones(3, 3, dtype=dtype, device=device)
    elif neighbours == 4:
        kernel = torch.tensor([[0., 1., 0.], [1., 1., 1.], [0., 1., 0.]],
                              dtype=dtype, device=device)
    else:
        raise ValueError(f'neighbours must be 4 or 8, got {neighbours}')
    kernel[1, 1] = 1. if self_loops else 0.
    return kernel


def grid_degree(height: int, width: int, neighbours: int = 8, self_loops: bool = True,
                dtype=None, device=None) -> Tensor:
    """Degree of every node of ``Adj (+ I)``: (1, 1, H, W). A border pixel
    has fewer neighbours (8-grid: 5 on an edge, 3 in a corner, plus self)."""
    kernel = grid_kernel(neighbours, self_loops, dtype, device)
    ones = torch.ones(1, 1, height, width, dtype=dtype, device=device)
    return F.conv2d(ones, kernel[None, None], padding=1)


def grid_aggregate(x: Tensor, neighbours: int = 8, self_loops: bool = True) -> Tensor:
    """``D^-1/2 (Adj + I) D^-1/2 X`` on the pixel grid of ``x`` (B, C, H, W).

    Computed as ``d^-1/2 * box(d^-1/2 * x)`` where ``box`` sums each node's
    3x3 neighbourhood (zero padding, so border nodes sum fewer terms): a fixed
    depthwise convolution. Memory is O(B C H W); no N x N matrix is built.
    A node without any edge (1x1 map, no self loops) gets 0.
    """
    _, channels, height, width = x.shape
    kernel = grid_kernel(neighbours, self_loops, x.dtype, x.device)
    with torch.no_grad():
        degree = grid_degree(height, width, neighbours, self_loops, x.dtype, x.device)
        inv_sqrt = degree.clamp(min=1).rsqrt()
    weight = kernel.expand(channels, 1, 3, 3)
    return F.conv2d(x * inv_sqrt, weight, padding=1, groups=channels) * inv_sqrt


class GridGraph:
    """Pixel-grid graph (the default adjacency of GSFM).

    Args:
        neighbours (int): 8 (default) or 4-connectivity.
        self_loops (bool): Add I before normalising. Defaults to True.
    """

    def __init__(self, neighbours: int = 8, self_loops: bool = True):
        grid_kernel(neighbours)  # validates
        self.neighbours = neighbours
        self.self_loops = self_loops

    def build(self, feats: Tensor) -> GraphOperator:
        """The operator ``x -> A x``; the grid ignores the feature values."""
        size = feats.shape[-2:]

        def aggregate(x: Tensor) -> Tensor:
            if x.shape[-2:] != size:
                raise ValueError(f'graph built on {tuple(size)}, applied to {tuple(x.shape)}')
            return grid_aggregate(x, self.neighbours, self.self_loops)
        return aggregate

    def __repr__(self):
        return f'GridGraph(neighbours={self.neighbours}, self_loops={self.self_loops})'


@torch.no_grad()
def knn_indices(nodes: Tensor, k: int, metric: str = 'euclidean',
                chunk_size: int = 1024) -> Tensor:
    """The ``k`` nearest *other* nodes of every node, computed in row chunks.

    Args:
        nodes (Tensor): Node features (N, C).
        k (int): Neighbours per node, ``k <= N - 1``.
        metric (str): 'euclidean' or 'cosine'. Defaults to 'euclidean'.
        chunk_size (int): Rows per chunk: the temporary distance block is
            (chunk_size, N). Defaults to 1024.

    Returns:
        Tensor: (N, k) long indices, nearest first.
    """
    num = nodes.shape[0]
    if metric == 'cosine':
        nodes = F.normalize(nodes, dim=1)
    elif metric != 'euclidean':
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    sq_norm = (nodes * nodes).sum(1)
    out = torch.empty(num, k, dtype=torch.long, device=nodes.device)
    for start in range(0, num, chunk_size):
        stop = min(start + chunk_size, num)
        query = nodes[start:stop]
        if metric == 'cosine':
            dist = -(query @ nodes.t())
        else:  # ||q - n||^2 up to the per-row constant ||q||^2 (rank only)
            dist = sq_norm[None] - 2 * (query @ nodes.t())
        rows = torch.arange(stop - start, device=nodes.device)
        dist[rows, rows + start] = float('inf')  # exclude self
        out[start:stop] = dist.topk(k, dim=1, largest=False).indices
    return out


def knn_adjacency(nodes: Tensor, k: int = 8, metric: str = 'euclidean',
                  chunk_size: int = 1024, self_loops: bool = True) -> Tensor:
    """Symmetric-normalised kNN adjacency of a batch, block diagonal.

    ``Adj_ij = 1`` when j is among the k nearest nodes of i or i among those
    of j (union, so the graph is symmetric and every node has at least k
    neighbours), plus I; values ``1 / sqrt(d_i d_j)``.

    Args:
        nodes (Tensor): (B, N, C) node features.
        k, metric, chunk_size: See :func:`knn_indices`; ``k`` is capped at
            N - 1.
        self_loops (bool): Add I. Defaults to True.

    Returns:
        Tensor: Coalesced sparse COO (B N, B N) matrix, O(B N k) entries.
    """
    batch, num, _ = nodes.shape
    k = min(k, num - 1)
    device = nodes.device
    dtype = torch.float64 if nodes.dtype == torch.float64 else torch.float32
    with torch.no_grad():
        rows, cols = [], []
        for b in range(batch):
            offset = b * num
            if k > 0:
                nbr = knn_indices(nodes[b].to(dtype), k, metric, chunk_size)
                src = torch.arange(num, device=device).repeat_interleave(k)
                rows += [src + offset, nbr.flatten() + offset]
                cols += [nbr.flatten() + offset, src + offset]
            if self_loops:
                diag = torch.arange(num, device=device) + offset
                rows.append(diag)
                cols.append(diag)
        size = (batch * num, batch * num)
        if not rows:
            return torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long, device=device),
                                           torch.zeros(0, dtype=dtype, device=device), size,
                                           check_invariants=False).coalesce()
        index = torch.stack([torch.cat(rows), torch.cat(cols)])
        ones = torch.ones(index.shape[1], dtype=dtype, device=device)
        # coalescing sums duplicate edges (i->j and j->i both chosen); union = 1
        index = torch.sparse_coo_tensor(index, ones, size, check_invariants=False
                                        ).coalesce().indices()
        degree = torch.zeros(size[0], dtype=dtype, device=device).index_add_(
            0, index[0], torch.ones(index.shape[1], dtype=dtype, device=device))
        inv_sqrt = degree.clamp(min=1).rsqrt()
        values = inv_sqrt[index[0]] * inv_sqrt[index[1]]
        return torch.sparse_coo_tensor(index, values, size, is_coalesced=True,
                                       check_invariants=False)


class KNNGraph:
    """Feature-similarity kNN graph, built per sample from the node features.

    Memory O(N k) kept plus an O(chunk_size * N) temporary; time O(N^2 C).

    Args:
        k (int): Nearest neighbours per node (before symmetrisation).
            Defaults to 8.
        metric (str): 'euclidean' (default) or 'cosine'.
        chunk_size (int): Query rows per distance block. Defaults to 1024.
        self_loops (bool): Add I before normalising. Defaults to True.
    """

    def __init__(self, k: int = 8, metric: str = 'euclidean', chunk_size: int = 1024,
                 self_loops: bool = True):
        if k < 1 or chunk_size < 1:
            raise ValueError(f'k and chunk_size must be positive, got {k}, {chunk_size}')
        if metric not in ('euclidean', 'cosine'):
            raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
        self.k, self.metric, self.chunk_size, self.self_loops = k, metric, chunk_size, self_loops

    def build(self, feats: Tensor) -> GraphOperator:
        """The operator ``x -> A x`` with A from ``feats`` (B, C, H, W)."""
        batch, _, height, width = feats.shape
        nodes = feats.detach().flatten(2).transpose(1, 2)
        with torch.autocast(device_type=feats.device.type, enabled=False):
            adjacency = knn_adjacency(nodes, self.k, self.metric, self.chunk_size,
                                      self.self_loops)

        def aggregate(x: Tensor) -> Tensor:
            if x.shape[0] != batch or x.shape[-2:] != (height, width):
                raise ValueError(f'graph built on {tuple(feats.shape)}, applied to '
                                 f'{tuple(x.shape)}')
            channels = x.shape[1]
            flat = x.flatten(2).transpose(1, 2).reshape(batch * height * width, channels)
            with torch.autocast(device_type=x.device.type, enabled=False):
                out = torch.sparse.mm(adjacency, flat.to(adjacency.dtype))
            out = out.to(x.dtype).reshape(batch, height * width, channels)
            return out.transpose(1, 2).reshape(batch, channels, height, width)
        return aggregate

    def __repr__(self):
        return (f'KNNGraph(k={self.k}, metric={self.metric!r}, '
                f'chunk_size={self.chunk_size}, self_loops={self.self_loops})')


GRAPHS = {'grid': GridGraph, 'knn': KNNGraph}


def build_graph(cfg: Union[str, Dict, GridGraph, KNNGraph]):
    """A graph strategy from ``'grid'``, ``'knn'`` or ``dict(type=..., **kw)``."""
    if isinstance(cfg, (GridGraph, KNNGraph)):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind not in GRAPHS:
        raise ValueError(f'graph type must be one of {sorted(GRAPHS)}, got {kind!r}')
    return GRAPHS[kind](**cfg)


# --------------------------------------------------------------------------
# FIM (Eq. 1-2)
# --------------------------------------------------------------------------

class CrossModalAttention(nn.Module):
    """Global single-head cross-attention between the two modalities (FIM).

    With ``X_opt``, ``X_sar`` the aligned features as N = H W tokens and
    ``P(X)`` the same features average-pooled by ``kv_reduction`` (M = N / r^2
    tokens), ``X'_opt = X_opt + W_o softmax(Q_opt K_sar^T / sqrt(d)) V_sar``
    with ``Q_opt = W_q X_opt``, ``K_sar, V_sar = W_kv P(X_sar)``, and the same
    with the modalities swapped (one set of 1x1 projections per modality, at
    the aligned width d). Every position of one modality attends to the whole
    image of the other (the paper's "long-range dependencies"), exact softmax.

    Pooling the keys and values is SegFormer's spatial-reduction attention
    (mmseg's MiT, reduction 8, 4, 2, 1 at strides 4-32), here parameter-free:
    a linear projection commutes with average pooling, so pooling first only
    saves work. ``kv_reduction=1`` is full N x N attention. Either way the
    products run in torch's fused ``scaled_dot_product_attention``, whose
    kernels work on blocks of keys: memory O((N + M) d), never N x M; time
    O(N M d). The attention runs in fp32 under autocast as well (it is a
    small part of the work, and the softmax stays exact).

    Args:
        channels (int): d, the width of the aligned features.
        kv_reduction (int): Pooling factor r of keys and values. Defaults
            to 1.
    """

    def __init__(self, channels: int, kv_reduction: int = 1):
        super().__init__()
        if kv_reduction < 1:
            raise ValueError(f'kv_reduction must be >= 1, got {kv_reduction}')
        self.kv_reduction = kv_reduction
        self.q_opt, self.q_sar = nn.Conv2d(channels, channels, 1), nn.Conv2d(channels, channels, 1)
        self.kv_opt = nn.Conv2d(channels, 2 * channels, 1)
        self.kv_sar = nn.Conv2d(channels, 2 * channels, 1)
        self.out_opt = nn.Conv2d(channels, channels, 1)
        self.out_sar = nn.Conv2d(channels, channels, 1)

    @staticmethod
    def tokens(x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 1, H W, C) fp32, one head, contiguous: the fused
        kernels need unit stride along C, else torch falls back to the math
        path and builds the N x M matrix."""
        return x.flatten(2).transpose(1, 2).float().contiguous()[:, None]

    def keys_values(self, x: Tensor, kv: nn.Conv2d) -> Tuple[Tensor, Tensor]:
        """K, V of the context pooled in r x r blocks (the last ones cut at
        the border): ceil(H / r) x ceil(W / r) positions."""
        if self.kv_reduction > 1:
            x = F.avg_pool2d(x, self.kv_reduction, ceil_mode=True)
        return kv(x).chunk(2, dim=1)

    def attend(self, query: Tensor, context: Tensor, q: nn.Conv2d, kv: nn.Conv2d,
               out: nn.Conv2d) -> Tensor:
        """``query + W_o softmax(Q K^T / sqrt(d)) V`` on the query's grid."""
        tokens = [self.tokens(t) for t in (q(query), *self.keys_values(context, kv))]
        with torch.autocast(query.device.type, enabled=False):
            mixed = F.scaled_dot_product_attention(*tokens)[:, 0]
        mixed = mixed.transpose(1, 2).reshape(query.shape[0], -1, *query.shape[2:])
        return query + out(mixed.to(query.dtype))

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        return (self.attend(x_opt, x_sar, self.q_opt, self.kv_sar, self.out_opt),
                self.attend(x_sar, x_opt, self.q_sar, self.kv_opt, self.out_sar))


class FeatureInteractionModule(BaseModule):
    """Bi-temporal feature interaction (FIM), Eq. 1-2, at one scale.

    ``X_m = align_m(S_m)``; ``X'_opt, X'_sar = CrossAttention(X_opt, X_sar)``
    (Sec. IV-C: "The FIM captures temporal dependencies through a
    cross-attention mechanism", see :class:`CrossModalAttention`);
    ``A = sigmoid(BN(Conv3x3([X'_opt, X'_sar])))`` (Eq. 1),
    ``C^st_m = S_m (.) A_m`` (Eq. 2).

    The paper names the cross-attention but gives no equation for it or for
    where it sits; we place it between the alignment layer and the Eq. 1
    projector, so the attention map A that re-weights the original features
    is computed from cross-attended features, and Eq. 1-2 stay as written.

    Args:
        channels (int): C of both S_opt and S_sar.
        align_reduction (int, optional): Alignment layers (1x1 Conv-BN-act per
            modality) project to ``C // align_reduction`` channels (at least
            ``min(C, 8)``); None concatenates the raw features. Defaults to 16.
        attention (str): 'shared' (one H x W map for both modalities, Eq. 1)
            or 'per_modality' (one map each, Eq. 2's A_m). Defaults to
            'shared'.
        cross_attention (bool): Cross-attention between the aligned features
            before Eq. 1 (the paper's FIM); False gives the gate-only FIM
            (Eq. 1-2 on the aligned features alone), an ablation. Defaults
            to True.
        kv_reduction (int): Key/value pooling factor of the cross-attention
            (:class:`CrossModalAttention`). Defaults to 1.
        norm_cfg (dict): Norm layers. Defaults to dict(type='BN').
        act_cfg (dict): Activation of the alignment layers. Defaults to
            dict(type='ReLU').
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, channels: int, align_reduction: Optional[int] = 16,
                 attention: str = 'shared', cross_attention: bool = True,
                 kv_reduction: int = 1, norm_cfg: Dict = dict(type='BN'),
                 act_cfg: Dict = dict(type='ReLU'), init_cfg: Optional[Dict] = None):
        super().__init__(init_cfg)
        if attention not in ('shared', 'per_modality'):
            raise ValueError(f"attention must be 'shared' or 'per_modality', got {attention!r}")
        self.attention = attention
        if align_reduction is None:
            self.align_opt = self.align_sar = None
            aligned = channels
        else:
            aligned = reduced_width(channels, align_reduction)
            self.align_opt = ConvModule(channels, aligned, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            self.align_sar = ConvModule(channels, aligned, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.cross_attention = (CrossModalAttention(aligned, kv_reduction)
                                if cross_attention else None)
        maps = 1 if attention == 'shared' else 2
        self.projector = ConvModule(2 * aligned, maps, 3, padding=1, norm_cfg=norm_cfg,
                                    act_cfg=None)

    def attention_maps(self, s_opt: Tensor, s_sar: Tensor) -> Tuple[Tensor, Tensor]:
        """A_opt, A_sar, each (B, 1, H, W) in [0, 1] (the same tensor when
        shared)."""
        if self.align_opt is not None:
            aligned = [self.align_opt(s_opt), self.align_sar(s_sar)]
        else:
            aligned = [s_opt, s_sar]
        if self.cross_attention is not None:
            aligned = self.cross_attention(*aligned)
        maps = torch.sigmoid(self.projector(torch.cat(aligned, dim=1)))
        if self.attention == 'shared':
            return maps, maps
        return maps[:, :1], maps[:, 1:]

    def forward(self, s_opt: Tensor, s_sar: Tensor) -> Tuple[Tensor, Tensor]:
        a_opt, a_sar = self.attention_maps(s_opt, s_sar)
        return s_opt * a_opt, s_sar * a_sar


# --------------------------------------------------------------------------
# GSFM (Eq. 3-5)
# --------------------------------------------------------------------------

class ChannelLinear(nn.Module):
    """``X W`` over channels of (B, C, H, W) without bias, full or low-rank.

    The low-rank form ``W = U V`` (U: C x r, V: r x C) lets a graph
    aggregation run between the two factors: ``A (X U V) = (A (X U)) V``.

    Args:
        channels (int): C.
        reduction (int): 1 for a full C x C matrix, else rank
            ``C // reduction`` (at least ``min(C, 8)``).
    """

    def __init__(self, channels: int, reduction: int = 1):
        super().__init__()
        rank = channels if reduction == 1 else reduced_width(channels, reduction)
        self.down = nn.Conv2d(channels, rank, 1, bias=False)
        self.up = nn.Conv2d(rank, channels, 1, bias=False) if rank < channels else None

    def weight(self) -> Tensor:
        """The effective C_in x C_out matrix W (``X W`` for row-vector nodes)."""
        w = self.down.weight.flatten(1).t()
        if self.up is not None:
            w = w @ self.up.weight.flatten(1).t()
        return w

    def forward(self, x: Tensor, aggregate: Optional[GraphOperator] = None) -> Tensor:
        """``A (X W)`` (``X W`` when ``aggregate`` is None)."""
        x = self.down(x)
        if aggregate is not None:
            x = aggregate(x)
        return x if self.up is None else self.up(x)


def build_refine(kind: str, channels: int, norm_cfg: Dict, act_cfg: Dict) -> nn.Module:
    """The convolutional refinement layer after the GCN layers."""
    if kind == 'none':
        return nn.Identity()
    if kind == 'conv':
        return ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
    if kind == 'dwconv':
        return ConvModule(channels, channels, 3, padding=1, groups=channels,
                          norm_cfg=norm_cfg, act_cfg=act_cfg)
    if kind == 'dwsep':
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            ConvModule(channels, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
    raise ValueError(f"refine must be 'dwconv', 'conv', 'dwsep' or 'none', got {kind!r}")


class GraphStructureFeatureModeling(BaseModule):
    """Graph structure feature modeling (GSFM), Eq. 3-5, one modality, one
    scale.

    ``X1 = A (C^st W1) + b1``; ``X2 = X1 - C^st``;
    ``C = ReLU(A (X2 W2) + b2)``; then the refinement layer.

    Args:
        channels (int): C.
        gcn_reduction (int): 1 for full C x C weights W1, W2, else their rank
            ``C // gcn_reduction`` (at least ``min(C, 8)``). Defaults to 32.
        graph (str | dict | GridGraph | KNNGraph): Adjacency strategy, see
            :func:`build_graph`. Defaults to 'grid'.
        refine (str): 'dwconv', 'conv', 'dwsep' or 'none'. Defaults to
            'dwconv'.
        norm_cfg (dict): Norm of the refinement layer. Defaults to
            dict(type='BN').
        act_cfg (dict): Activation of the refinement layer. Defaults to
            dict(type='ReLU').
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, channels: int, gcn_reduction: int = 32,
                 graph: Union[str, Dict] = 'grid', refine: str = 'dwconv',
                 norm_cfg: Dict = dict(type='BN'), act_cfg: Dict = dict(type='ReLU'),
                 init_cfg: Optional[Dict] = None):
        super().__init__(init_cfg)
        self.graph = build_graph(graph)
        self.w1 = ChannelLinear(channels, gcn_reduction)
        self.b1 = nn.Parameter(torch.zeros(channels))
        self.w2 = ChannelLinear(channels, gcn_reduction)
        self.b2 = nn.Parameter(torch.zeros(channels))
        self.refine = build_refine(refine, channels, norm_cfg, act_cfg)

    def extra_repr(self) -> str:
        return f'graph={self.graph!r}'

    def graph_convolutions(self, c_st: Tensor,
                           aggregate: Optional[GraphOperator] = None) -> Tensor:
        """Eq. 3-5 on (B, C, H, W) nodes, before the refinement layer."""
        if aggregate is None:
            aggregate = self.graph.build(c_st)
        x1 = self.w1(c_st, aggregate) + self.b1[:, None, None]             # Eq. 3
        x2 = x1 - c_st                                                      # Eq. 4
        return F.relu(self.w2(x2, aggregate) + self.b2[:, None, None])      # Eq. 5

    def forward(self, c_st: Tensor) -> Tensor:
        return self.refine(self.graph_convolutions(c_st))


# --------------------------------------------------------------------------
# STCFM neck
# --------------------------------------------------------------------------

@MODELS.register_module()
class SpatioTemporalCommonFeatureModeling(BaseModule):
    """Spatio-temporal common feature modeling (STCFM) neck of STSF-Net:
    per-scale FIM (Eq. 1-2) followed by per-modality GSFM (Eq. 3-5).

    ``neck(S_opt, S_sar) -> (C_opt, C_sar)``: two lists of NCHW features,
    one per scale, the two modalities with equal channels ``in_channels[i]``
    at each scale; the outputs keep shapes. See the module docstring for the
    open points of the paper and how each one is settled.

    Args:
        in_channels (Sequence[int]): Channels per scale, e.g.
            [96, 192, 384, 768] (Hiera-S / Swin-T).
        use_fim (bool): Use FIM; otherwise ``C^st = S``. Defaults to True.
        use_gsfm (bool): Use GSFM; otherwise ``C = C^st``. Defaults to True.
        attention (str): FIM map, 'shared' (Eq. 1) or 'per_modality'.
            Defaults to 'shared'.
        align_reduction (int, optional): FIM alignment width divisor; None for
            no alignment layer. Defaults to 16.
        cross_attention (bool): FIM cross-attention between the modalities
            (the paper's FIM); False for the gate-only FIM. Defaults to True.
        kv_reduction (int | Sequence[int]): Key/value pooling factor of the
            cross-attention per scale (one int: every scale); 1 for full
            attention. Defaults to (8, 4, 2, 1), SegFormer's ratios at
            strides 4-32.
        gcn_reduction (int): GSFM weight rank divisor; 1 for full matrices.
            Defaults to 32.
        graph (str | dict): GSFM adjacency, 'grid' (default),
            dict(type='grid', neighbours=4), 'knn' or dict(type='knn', k=8,
            metric='euclidean', chunk_size=1024).
        refine (str): GSFM refinement layer: 'dwconv' (default), 'conv',
            'dwsep' or 'none'.
        norm_cfg (dict): Norm layers. Defaults to dict(type='BN').
        act_cfg (dict): Activations of alignment and refinement layers.
            Defaults to dict(type='ReLU').
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self, in_channels: Sequence[int], use_fim: bool = True,
                 use_gsfm: bool = True, attention: str = 'shared',
                 align_reduction: Optional[int] = 16, cross_attention: bool = True,
                 kv_reduction: Union[int, Sequence[int]] = (8, 4, 2, 1),
                 gcn_reduction: int = 32,
                 graph: Union[str, Dict] = 'grid', refine: str = 'dwconv',
                 norm_cfg: Dict = dict(type='BN'), act_cfg: Dict = dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_channels = list(in_channels)
        self.use_fim, self.use_gsfm = use_fim, use_gsfm
        build_graph(graph)  # fail early on a bad graph config
        if isinstance(kv_reduction, int):
            kv_reduction = [kv_reduction] * len(self.in_channels)
        if len(kv_reduction) != len(self.in_channels):
            raise ValueError(f'kv_reduction {tuple(kv_reduction)} needs one factor per scale '
                             f'of in_channels {self.in_channels}')
        self.fims = nn.ModuleList(
            FeatureInteractionModule(c, align_reduction, attention, cross_attention, r,
                                     norm_cfg, act_cfg)
            for c, r in zip(self.in_channels, kv_reduction)) if use_fim else None
        self.gsfms_opt, self.gsfms_sar = [nn.ModuleList(
            GraphStructureFeatureModeling(c, gcn_reduction, graph, refine, norm_cfg, act_cfg)
            for c in self.in_channels) if use_gsfm else None for _ in range(2)]

    def _check(self, feats_opt: Sequence[Tensor], feats_sar: Sequence[Tensor]):
        if not len(feats_opt) == len(feats_sar) == len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} scales per modality, got '
                             f'{len(feats_opt)} optical and {len(feats_sar)} SAR')
        for i, (s_opt, s_sar, c) in enumerate(zip(feats_opt, feats_sar, self.in_channels)):
            if s_opt.shape != s_sar.shape or s_opt.shape[1] != c:
                raise ValueError(f'scale {i}: optical {tuple(s_opt.shape)} and SAR '
                                 f'{tuple(s_sar.shape)} must agree and have {c} channels')

    def forward(self, feats_opt: Sequence[Tensor],
                feats_sar: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        self._check(feats_opt, feats_sar)
        common_opt, common_sar = [], []
        for i, (s_opt, s_sar) in enumerate(zip(feats_opt, feats_sar)):
            if self.use_fim:
                s_opt, s_sar = self.fims[i](s_opt, s_sar)
            if self.use_gsfm:
                s_opt, s_sar = self.gsfms_opt[i](s_opt), self.gsfms_sar[i](s_sar)
            common_opt.append(s_opt)
            common_sar.append(s_sar)
        return common_opt, common_sar


STCFM = SpatioTemporalCommonFeatureModeling
