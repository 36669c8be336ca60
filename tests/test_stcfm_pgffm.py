"""STCFM (STSF-Net Eq. 1-5) and PGFFM (Eq. 6-8): values against dense or
hand computations, graph properties, ablation switches, gradients, and that
the grid graph never materialises an N x N tensor."""
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mmcd_plugin.models.necks import PriorGuidedFusion, SpatioTemporalCommonFeatureModeling
from mmcd_plugin.models.necks.stcfm import (CrossModalAttention, FeatureInteractionModule,
                                            GraphStructureFeatureModeling, KNNGraph,
                                            build_graph, grid_aggregate, grid_degree,
                                            knn_adjacency, knn_indices)
from mmcd_plugin.registry import MODELS

CHANNELS = [8, 16, 16, 32]


def pyramid(batch=2, size=32, channels=CHANNELS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size >> i, size >> i, generator=gen)
            for i, c in enumerate(channels)]


def dense_grid_matrix(height, width, neighbours=8):
    """D^-1/2 (Adj + I) D^-1/2 of a pixel grid, built entry by entry."""
    n = height * width
    adj = torch.zeros(n, n, dtype=torch.float64)
    for y in range(height):
        for x in range(width):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if neighbours == 4 and dy and dx:
                        continue
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < height and 0 <= xx < width:
                        adj[y * width + x, yy * width + xx] = 1.  # includes self
    d = adj.sum(1)
    return adj / torch.sqrt(d[:, None] * d[None, :])


def as_nodes(x):
    """(B, C, H, W) -> (B, N, C), row-major nodes."""
    return x.flatten(2).transpose(1, 2)


def to_map(nodes, height, width):
    return nodes.transpose(1, 2).reshape(nodes.shape[0], -1, height, width)


# ----------------------------------------------------------------- grid graph

@pytest.mark.parametrize('neighbours', [8, 4])
def test_grid_aggregation_equals_dense_normalised_adjacency(neighbours):
    height, width = 5, 4
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    dense = dense_grid_matrix(height, width, neighbours)
    expected = to_map(dense @ as_nodes(x), height, width)
    got = grid_aggregate(x, neighbours=neighbours)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # corners, edges and the interior have different degrees (self included)
    deg = grid_degree(height, width, neighbours, dtype=torch.float64)[0, 0]
    if neighbours == 8:
        assert deg[0, 0] == deg[-1, -1] == 4 and deg[0, 1] == deg[2, 0] == 6 and deg[2, 2] == 9
    else:
        assert deg[0, 0] == 3 and deg[0, 1] == 4 and deg[2, 2] == 5
    # symmetric normalised operator: <A x, y> == <x, A y>
    y = torch.randn_like(x)
    assert torch.allclose((grid_aggregate(x) * y).sum(), (x * grid_aggregate(y)).sum())


class MaxTensorSize(TorchDispatchMode):
    """Records the largest dense tensor (elements) any aten op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0
        self.largest_nnz = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                if t.layout == torch.strided:
                    self.largest = max(self.largest, t.numel())
                elif t.layout == torch.sparse_coo:
                    self.largest_nnz = max(self.largest_nnz, t._nnz())
        return out


def test_grid_graph_never_allocates_n_by_n():
    """N = 65536 nodes: a dense adjacency would be N^2 = 4.3e9 elements
    (17 GB); every tensor the GSFM produces (forward and backward) stays at
    the size of the feature map."""
    channels, size = 4, 256
    gsfm = GraphStructureFeatureModeling(channels, gcn_reduction=1, refine='dwconv')
    x = torch.randn(1, channels, size, size, requires_grad=True)
    with MaxTensorSize() as probe:
        gsfm(x).sum().backward()
    # the probe sees the feature-map-sized tensors, and nothing larger
    assert probe.largest == channels * size * size < (size * size) ** 2 // 10000
    assert x.grad is not None


def test_knn_graph_memory_is_chunked():
    channels, size, chunk, k = 4, 48, 128, 8
    n = size * size
    x = torch.randn(1, channels, size, size)
    with MaxTensorSize() as probe:
        KNNGraph(k=k, chunk_size=chunk).build(x)(x)
    assert probe.largest == chunk * n < n * n // 10   # one (chunk, N) distance block
    assert probe.largest_nnz <= n * (2 * k + 1)


# ----------------------------------------------------------------- kNN graph

def test_knn_graph_structure_and_chunked_equals_dense_reference():
    torch.manual_seed(0)
    batch, channels, height, width, k = 2, 5, 6, 5, 4
    n = height * width
    feats = torch.randn(batch, channels, height, width, dtype=torch.float64)
    nodes = as_nodes(feats)
    values = torch.randn(batch, 3, height, width, dtype=torch.float64)

    adjacency = knn_adjacency(nodes, k=k, chunk_size=7).to_dense()
    expected = []
    for b in range(batch):
        dist = torch.cdist(nodes[b], nodes[b])
        dist.fill_diagonal_(float('inf'))
        nearest = dist.argsort(dim=1)[:, :k]
        # the chunked search finds exactly the k nearest other nodes
        got_nn = knn_indices(nodes[b], k, chunk_size=7)
        assert torch.equal(got_nn.sort(1).values, nearest.sort(1).values)
        assert not (got_nn == torch.arange(n)[:, None]).any()
        directed = torch.zeros(n, n, dtype=torch.float64)
        directed[torch.arange(n)[:, None], nearest] = 1.
        assert torch.equal(directed.sum(1), torch.full((n,), float(k), dtype=torch.float64))
        adj = torch.maximum(directed, directed.t()) + torch.eye(n, dtype=torch.float64)
        d = adj.sum(1)
        norm = adj / torch.sqrt(d[:, None] * d[None, :])
        block = adjacency[b * n:(b + 1) * n, b * n:(b + 1) * n]
        torch.testing.assert_close(block, norm, rtol=1e-12, atol=1e-12)
        assert torch.equal(block, block.t())                              # symmetric
        assert ((block > 0).sum(1) >= k + 1).all()                        # k nbrs + self
        assert (block.diagonal() > 0).all()
        expected.append(norm @ as_nodes(values)[b])
    # no edges between samples of the batch
    assert adjacency[:n, n:].abs().sum() == 0
    got = KNNGraph(k=k, chunk_size=7).build(feats)(values)
    torch.testing.assert_close(got, to_map(torch.stack(expected), height, width),
                               rtol=1e-12, atol=1e-12)


def test_knn_cosine_and_tiny_maps():
    feats = torch.randn(1, 3, 4, 4)
    op = build_graph(dict(type='knn', k=3, metric='cosine'))
    assert op.build(feats)(feats).shape == feats.shape
    # k larger than N - 1 is capped; a 1x1 map has only its self loop
    one = torch.randn(1, 3, 1, 1)
    torch.testing.assert_close(KNNGraph(k=8).build(one)(one), one)
    two = torch.randn(1, 2, 1, 2)
    torch.testing.assert_close(KNNGraph(k=8).build(two)(two),
                               two.mean(-1, keepdim=True).expand_as(two))
    with pytest.raises(ValueError):
        build_graph('ring')


# ----------------------------------------------------------------- GSFM

@pytest.mark.parametrize('graph,channels,reduction', [
    ('grid', 6, 1), ('grid', 16, 4), (dict(type='grid', neighbours=4), 6, 1),
    (dict(type='knn', k=3, chunk_size=5), 6, 1)])
def test_gsfm_equals_dense_eq_3_to_5(graph, channels, reduction):
    torch.manual_seed(1)
    height, width = 4, 3
    gsfm = GraphStructureFeatureModeling(channels, gcn_reduction=reduction, graph=graph,
                                         refine='none').double()
    if reduction > 1:
        assert gsfm.w1.up is not None  # really low rank
    with torch.no_grad():
        for p in gsfm.parameters():
            p.copy_(torch.randn_like(p))
    c_st = torch.randn(2, channels, height, width, dtype=torch.float64)
    nodes = as_nodes(c_st)
    if isinstance(graph, dict) and graph['type'] == 'knn':
        dense = knn_adjacency(nodes, k=3).to_dense()
        blocks = [dense[b * 12:(b + 1) * 12, b * 12:(b + 1) * 12] for b in range(2)]
        adj = torch.stack(blocks)
    else:
        neighbours = graph['neighbours'] if isinstance(graph, dict) else 8
        adj = dense_grid_matrix(height, width, neighbours).expand(2, -1, -1)
    w1, w2 = gsfm.w1.weight(), gsfm.w2.weight()
    x1 = adj @ (nodes @ w1) + gsfm.b1                                   # Eq. 3
    x2 = x1 - nodes                                                     # Eq. 4
    out = torch.relu(adj @ (x2 @ w2) + gsfm.b2)                         # Eq. 5
    torch.testing.assert_close(gsfm(c_st), to_map(out, height, width), rtol=1e-10,
                               atol=1e-10)


# ----------------------------------------------------------------- FIM

def set_bn(bn, mean=0., var=1., weight=1., bias=0.):
    with torch.no_grad():
        bn.running_mean.fill_(mean)
        bn.running_var.fill_(var)
        bn.weight.fill_(weight)
        bn.bias.copy_(torch.as_tensor(bias, dtype=bn.bias.dtype).expand_as(bn.bias))


@pytest.mark.parametrize('align_reduction', [4, None])
def test_fim_known_attention(align_reduction):
    fim = FeatureInteractionModule(16, align_reduction=align_reduction).eval()
    torch.nn.init.zeros_(fim.projector.conv.weight)
    set_bn(fim.projector.bn)
    s_opt, s_sar = torch.randn(2, 16, 6, 5), torch.randn(2, 16, 6, 5)
    c_opt, c_sar = fim(s_opt, s_sar)
    torch.testing.assert_close(c_opt, 0.5 * s_opt)      # sigmoid(0) = 0.5, Eq. 2
    torch.testing.assert_close(c_sar, 0.5 * s_sar)


def test_fim_per_modality_maps_and_original_features():
    fim = FeatureInteractionModule(16, attention='per_modality').eval()
    torch.nn.init.zeros_(fim.projector.conv.weight)
    set_bn(fim.projector.bn, bias=torch.tensor([1., -2.]))
    s_opt, s_sar = torch.randn(1, 16, 4, 4), torch.randn(1, 16, 4, 4)
    c_opt, c_sar = fim(s_opt, s_sar)
    torch.testing.assert_close(c_opt, s_opt * torch.sigmoid(torch.tensor(1.)))
    torch.testing.assert_close(c_sar, s_sar * torch.sigmoid(torch.tensor(-2.)))
    # general weights: C^st_m = S_m * A (one shared map multiplies the originals)
    fim = FeatureInteractionModule(16, attention='shared')
    a_opt, a_sar = fim.attention_maps(s_opt, s_sar)
    assert a_opt is a_sar and a_opt.shape == (1, 1, 4, 4)
    assert ((a_opt >= 0) & (a_opt <= 1)).all()
    torch.testing.assert_close(fim(s_opt, s_sar)[0], s_opt * a_opt)


def identity_cross_attention(channels):
    """Q = K = V = the input, W_o = I, no biases."""
    attention = CrossModalAttention(channels)
    eye = torch.eye(channels)[:, :, None, None]
    with torch.no_grad():
        for conv in (attention.q_opt, attention.q_sar, attention.kv_opt, attention.kv_sar,
                     attention.out_opt, attention.out_sar):
            conv.weight.copy_(torch.cat([eye] * (conv.out_channels // channels)))
            conv.bias.zero_()
    return attention


def test_cross_attention_hand_computed():
    """Two tokens of width 2 (a 1 x 2 map): optical (1, 0), (0, 1); SAR
    (2, 0), (0, 0). Optical token 1 scores SAR keys (2, 0) / sqrt(2), so it
    takes w = e^sqrt2 / (e^sqrt2 + 1) of SAR token 1: 1 + 2 w. Optical token 2
    scores (0, 0): the mean of the SAR values, (1, 0). SAR token 1 scores the
    optical keys (sqrt2, 0): (w, 1 - w) added to (2, 0); SAR token 2 scores
    (0, 0): (0.5, 0.5)."""
    attention = identity_cross_attention(2)
    x_opt = torch.tensor([[1., 0.], [0., 1.]]).t().reshape(1, 2, 1, 2)
    x_sar = torch.tensor([[2., 0.], [0., 0.]]).t().reshape(1, 2, 1, 2)
    w = math.exp(math.sqrt(2)) / (math.exp(math.sqrt(2)) + 1)
    out_opt, out_sar = attention(x_opt, x_sar)
    torch.testing.assert_close(out_opt[0, :, 0].t(), torch.tensor([[1 + 2 * w, 0.], [1., 1.]]))
    torch.testing.assert_close(out_sar[0, :, 0].t(), torch.tensor([[2 + w, 1 - w], [.5, .5]]))


@pytest.mark.parametrize('kv_reduction', [1, 2, 3])
def test_cross_attention_equals_dense_softmax_and_reaches_the_whole_map(kv_reduction):
    torch.manual_seed(0)
    attention = CrossModalAttention(6, kv_reduction).double()
    x_opt, x_sar = torch.randn(2, 6, 6, 7, dtype=torch.float64), torch.randn(
        2, 6, 6, 7, dtype=torch.float64)
    out_opt, out_sar = attention(x_opt, x_sar)

    def pooled(x):  # mean of each r x r block, the last blocks cut at the border
        r = kv_reduction
        rows = [x[:, :, i:i + r].mean(2, keepdim=True) for i in range(0, x.shape[2], r)]
        x = torch.cat(rows, 2)
        return torch.cat([x[..., j:j + r].mean(3, keepdim=True)
                          for j in range(0, x.shape[3], r)], 3)

    def dense(x_q, x_c, q, kv, out):  # the N x M matrix, written out
        query = q(x_q).flatten(2)
        k, v = (t.flatten(2) for t in kv(pooled(x_c)).chunk(2, 1))
        weights = torch.softmax(torch.einsum('bcn,bcm->bnm', query, k) / math.sqrt(6), dim=2)
        return x_q + out(torch.einsum('bnm,bcm->bcn', weights, v).reshape(x_q.shape))
    torch.testing.assert_close(out_opt, dense(x_opt, x_sar, attention.q_opt, attention.kv_sar,
                                              attention.out_opt))
    torch.testing.assert_close(out_sar, dense(x_sar, x_opt, attention.q_sar, attention.kv_opt,
                                              attention.out_sar))
    # long range: one SAR pixel in a corner moves the optical output in the far corner
    moved = x_sar.clone()
    moved[:, :, 0, 0] += 3
    assert (attention(x_opt, moved)[0][:, :, -1, -1] - out_opt[:, :, -1, -1]).abs().min() > 1e-4


def test_fim_cross_attention_feeds_eq1_and_the_gate_only_ablation():
    torch.manual_seed(0)
    s_opt, s_sar = torch.randn(1, 16, 8, 8), torch.randn(1, 16, 8, 8)
    fim = FeatureInteractionModule(16).eval()
    aligned = fim.cross_attention(fim.align_opt(s_opt), fim.align_sar(s_sar))
    a = torch.sigmoid(fim.projector(torch.cat(aligned, dim=1)))            # Eq. 1
    torch.testing.assert_close(fim(s_opt, s_sar)[1], s_sar * a)            # Eq. 2
    # a SAR pixel far outside Eq. 1's 3x3 projector moves the map only with the attention
    moved = s_sar.clone()
    moved[:, :, 0, 0] += 3
    far = (fim.attention_maps(s_opt, moved)[0] - fim.attention_maps(s_opt, s_sar)[0])[..., -1, -1]
    assert far.abs().item() > 1e-6
    gate_only = FeatureInteractionModule(16, cross_attention=False).eval()
    assert gate_only.cross_attention is None
    far = (gate_only.attention_maps(s_opt, moved)[0]
           - gate_only.attention_maps(s_opt, s_sar)[0])[..., -1, -1]
    assert far.abs().item() == 0
    assert (sum(p.numel() for p in fim.parameters())
            - sum(p.numel() for p in gate_only.parameters())) == 2 * (8 * 24 + 24 + 8 * 8 + 8)
    # aligned width 8 = max(16 // 16, 8): per modality q 8 -> 8, kv 8 -> 16, out 8 -> 8, biased


def test_fim_cross_attention_never_allocates_n_by_n():
    """N = 16384 tokens (the stride-4 map of a 512 x 512 input): the score
    matrix would be N^2 = 2.7e8 elements; forward and backward stay at the
    size of the feature maps."""
    attention = CrossModalAttention(6, kv_reduction=1)
    x_opt, x_sar = torch.randn(1, 6, 128, 128, requires_grad=True), torch.randn(1, 6, 128, 128)
    with MaxTensorSize() as probe:
        sum(t.sum() for t in attention(x_opt, x_sar)).backward()
    assert probe.largest <= 3 * 6 * 128 * 128 < (128 * 128) ** 2 // 100
    assert x_opt.grad.abs().sum() > 0


# ----------------------------------------------------------------- STCFM neck

def test_stcfm_neck_shapes_ablation_and_gradients():
    neck = MODELS.build(dict(type='SpatioTemporalCommonFeatureModeling', in_channels=CHANNELS))
    assert isinstance(neck, SpatioTemporalCommonFeatureModeling)
    s_opt, s_sar = pyramid(seed=0), pyramid(seed=1)
    c_opt, c_sar = neck(s_opt, s_sar)
    assert [t.shape for t in c_opt] == [t.shape for t in s_opt] == [t.shape for t in c_sar]
    (sum(t.square().mean() for t in c_opt + c_sar)).backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    baseline = SpatioTemporalCommonFeatureModeling(CHANNELS, use_fim=False, use_gsfm=False)
    assert sum(p.numel() for p in baseline.parameters()) == 0
    c_opt, c_sar = baseline(s_opt, s_sar)
    assert all(torch.equal(a, b) for a, b in zip(c_opt + c_sar, s_opt + s_sar))

    fim_only = SpatioTemporalCommonFeatureModeling(CHANNELS, use_gsfm=False).eval()
    c_opt, _ = fim_only(s_opt, s_sar)
    torch.testing.assert_close(c_opt[2], fim_only.fims[2](s_opt[2], s_sar[2])[0])

    gsfm_only = SpatioTemporalCommonFeatureModeling(CHANNELS, use_fim=False).eval()
    _, c_sar = gsfm_only(s_opt, s_sar)
    torch.testing.assert_close(c_sar[1], gsfm_only.gsfms_sar[1](s_sar[1]))

    knn = SpatioTemporalCommonFeatureModeling(CHANNELS, graph=dict(type='knn', k=4))
    assert [t.shape for t in knn(s_opt, s_sar)[1]] == [t.shape for t in s_sar]

    assert [f.cross_attention.kv_reduction for f in neck.fims] == [8, 4, 2, 1]
    with pytest.raises(ValueError, match='one factor per scale'):
        SpatioTemporalCommonFeatureModeling(CHANNELS, kv_reduction=(8, 4))
    with pytest.raises(ValueError):
        neck(s_opt[:3], s_sar[:3])
    with pytest.raises(ValueError):
        neck(s_opt, pyramid(channels=[8, 16, 16, 16]))


# ----------------------------------------------------------------- PGFFM

def fusion_inputs(seed=0, batch=2, size=16, channels=CHANNELS):
    return (pyramid(batch, size, channels, seed), pyramid(batch, size, channels, seed + 1),
            pyramid(batch, size, channels, seed + 2), pyramid(batch, size, channels, seed + 3))


def prior_pyramid(batch=2, size=8, channels=12, seed=10):
    return pyramid(batch, size, [channels] * 4, seed)


def fix_prior_net(net, out_bias):
    """F(0) = out_bias: conv1 has no bias, BN maps 0 to 0 in eval."""
    set_bn(net.norm)
    with torch.no_grad():
        net.conv2.bias.fill_(out_bias)


def test_pgffm_identical_priors_give_known_prior_map():
    s_opt, s_sar, c_opt, c_sar = fusion_inputs()
    priors = prior_pyramid()   # other channels and half the feature size
    fusion = PriorGuidedFusion(CHANNELS, fusion='sum').eval()
    for net in fusion.prior_nets:
        fix_prior_net(net, 0.7)
    out = fusion(s_opt, s_sar, c_opt, c_sar, priors, [p.clone() for p in priors])
    m = torch.sigmoid(torch.tensor(0.7))
    for i in range(4):
        f_s, f_c = s_opt[i] - s_sar[i], c_opt[i] - c_sar[i]
        torch.testing.assert_close(out[i], m * f_s + (1 - m) * f_c)
        prior_map = fusion.change_prior(i, priors[i], priors[i], f_s.shape[-2:])
        assert prior_map.shape == (2, 1) + f_s.shape[-2:]
        torch.testing.assert_close(prior_map, m.expand_as(prior_map))


def test_pgffm_distance_is_euclidean_norm_over_channels():
    fusion = PriorGuidedFusion([4], fusion='sum').eval()
    net = fusion.prior_nets[0]
    # F(d) = d: conv1 picks the centre, BN identity, ReLU(d >= 0) = d, conv2 sums
    with torch.no_grad():
        net.conv1.weight.zero_()
        net.conv1.weight[0, 0, 1, 1] = 1.
        net.conv2.weight.zero_()
        net.conv2.weight[0, 0, 1, 1] = 1.
        net.conv2.bias.zero_()
    set_bn(net.norm)
    p_opt, p_sar = torch.randn(1, 5, 3, 3), torch.randn(1, 5, 3, 3)
    m = fusion.change_prior(0, p_opt, p_sar, (3, 3))
    dist = ((p_opt - p_sar) ** 2).sum(1, keepdim=True).sqrt()
    torch.testing.assert_close(m, torch.sigmoid(dist))


@pytest.mark.parametrize('bias,path', [(50., 'specific'), (-200., 'common')])
def test_pgffm_sum_extremes_select_one_path_exactly(bias, path):
    s_opt, s_sar, c_opt, c_sar = fusion_inputs(seed=3)
    priors = prior_pyramid(size=16)
    fusion = PriorGuidedFusion(CHANNELS, fusion='sum').eval()
    for net in fusion.prior_nets:
        fix_prior_net(net, bias)
        with torch.no_grad():
            net.conv1.weight.zero_()  # F ignores the distance: M = sigmoid(bias)
    out = fusion(s_opt, s_sar, c_opt, c_sar, priors, prior_pyramid(size=16, seed=20))
    for i in range(4):
        expected = s_opt[i] - s_sar[i] if path == 'specific' else c_opt[i] - c_sar[i]
        assert torch.equal(out[i], expected)


def test_pgffm_without_prior_and_channel_grouped_fusion():
    s_opt, s_sar, c_opt, c_sar = fusion_inputs(seed=5)
    plain = PriorGuidedFusion(CHANNELS, fusion='sum', use_prior=False)
    assert sum(p.numel() for p in plain.parameters()) == 0
    out = plain(s_opt, s_sar, c_opt, c_sar)
    for i in range(4):
        torch.testing.assert_close(out[i], 0.5 * (s_opt[i] - s_sar[i]) +
                                   0.5 * (c_opt[i] - c_sar[i]))
    with pytest.raises(ValueError, match='use_prior=False'):
        PriorGuidedFusion(CHANNELS)(s_opt, s_sar, c_opt, c_sar, None, None)

    # groups='channel' pairs channel j of both weighted paths: with unit
    # weights and no norm/activation the conv reproduces the Eq. 8 sum
    conv = PriorGuidedFusion(CHANNELS, use_prior=False, fusion_kernel_size=1,
                             norm_cfg=None, act_cfg=None)
    for module in conv.fusion_convs:
        torch.nn.init.ones_(module.conv.weight)
        torch.nn.init.zeros_(module.conv.bias)
    for a, b in zip(conv(s_opt, s_sar, c_opt, c_sar), out):
        torch.testing.assert_close(a, b)


def test_pgffm_conv_fusion_shapes_and_gradients_reach_every_parameter():
    s_opt, s_sar, c_opt, c_sar = fusion_inputs(seed=7)
    for kwargs in [dict(), dict(fusion_groups=1, out_channels=24),
                   dict(fusion_groups=2, fusion_kernel_size=1)]:
        fusion = MODELS.build(dict(type='PriorGuidedFusion', in_channels=CHANNELS, **kwargs))
        out = fusion(s_opt, s_sar, c_opt, c_sar, prior_pyramid(size=8),
                     prior_pyramid(size=8, seed=30))
        channels = [kwargs.get('out_channels', c) for c in CHANNELS]
        assert [t.shape[1] for t in out] == channels
        assert [t.shape[-1] for t in out] == [16, 8, 4, 2]
        sum(t.square().mean() for t in out).backward()
        for name, p in fusion.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (kwargs, name)
    with pytest.raises(ValueError):
        PriorGuidedFusion(CHANNELS, fusion='sum', out_channels=4)


def test_stcfm_then_pgffm_end_to_end_gradients():
    stcfm = SpatioTemporalCommonFeatureModeling(CHANNELS)
    pgffm = PriorGuidedFusion(CHANNELS)
    s_opt, s_sar = pyramid(seed=0), pyramid(seed=1)
    s_opt = [t.requires_grad_() for t in s_opt]
    fused = pgffm(s_opt, s_sar, *stcfm(s_opt, s_sar), prior_pyramid(), prior_pyramid(seed=3))
    sum(t.mean() for t in fused).backward()
    for module in (stcfm, pgffm):
        for name, p in module.named_parameters():
            assert p.grad is not None, name
    assert all(t.grad is not None and math.isfinite(t.grad.sum().item()) for t in s_opt)
