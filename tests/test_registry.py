"""Registry behaviour: our scope, the mmseg fallback, and use from a foreign
scope: a stand-in package built like Open-CD's (registries hanging off
mmengine's root) and the real Open-CD 1.1.0 when ``../shared/peers/open-cd``
is there."""
import sys
import textwrap

import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

import mmcd_plugin  # noqa: F401
from mmcd_plugin.models.necks import FeatureFusionNeck
from mmcd_plugin.registry import MODELS, TRANSFORMS

TINY_MODEL = dict(
    backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
                  in_channels=3, out_indices=(0, 1, 2, 3)),
    neck=dict(type='FeatureFusionNeck', policy='abs_diff'),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=16, num_convs=1,
                     num_classes=2, loss_decode=dict(type='CrossEntropyLoss')),
    data_preprocessor=dict(type='MultiModalDataPreprocessor', in_channels=(3, 3)))


# a model registered only in each foreign scope
ONLY_THERE = dict(fakecd='FakeHeadOnlyInFakecd', opencd='BITHead')


@pytest.fixture(scope='module', params=['fakecd', 'opencd'])
def foreign_scope(request, tmp_path_factory):
    """'fakecd': a package whose registries are children of mmengine's root,
    exactly how Open-CD creates its own, importable as fakecd.registry.
    'opencd': the real Open-CD (skipped when its source or mmdet is absent)."""
    if request.param == 'opencd':
        request.getfixturevalue('opencd')
        return 'opencd'
    if 'fakecd.registry' not in sys.modules:
        root = tmp_path_factory.mktemp('foreign')
        pkg = root / 'fakecd'
        pkg.mkdir()
        (pkg / '__init__.py').write_text('')
        (pkg / 'registry.py').write_text(textwrap.dedent('''
            from mmengine.registry import MODELS as ROOT_MODELS, Registry
            MODELS = Registry('model', parent=ROOT_MODELS, scope='fakecd')

            @MODELS.register_module()
            class FakeHeadOnlyInFakecd:
                pass
        '''))
        sys.path.insert(0, str(root))
        import fakecd.registry  # noqa: F401
    return 'fakecd'


def build_in_scope(scope, cfg):
    """Build through mmengine's root registry with ``scope`` as default scope,
    as a Runner of that project does; the previous scope is restored."""
    with DefaultScope.overwrite_default_scope(scope):
        return ROOT_MODELS.build(cfg)


def test_own_and_mmseg_names_resolve_bare():
    assert MODELS.get('FeatureFusionNeck') is FeatureFusionNeck
    from mmseg.models.decode_heads import FCNHead
    assert MODELS.get('FCNHead') is FCNHead
    assert TRANSFORMS.get('PhotoMetricDistortion').__module__.startswith('mmseg')
    assert TRANSFORMS.get('LoadBiTemporalImages').__module__.startswith('mmcd_plugin')


def test_default_scope_config_builds_with_bare_names():
    model = build_in_scope('mmcd_plugin', dict(type='BiTemporalEncoderDecoder', **TINY_MODEL))
    assert type(model.neck) is FeatureFusionNeck
    assert type(model.decode_head.loss_decode).__module__.startswith('mmseg')


def test_foreign_scope_reaches_plugin_and_nested_bare_names(foreign_scope):
    # An Open-CD style config: default_scope is foreign, our model is scoped,
    # its nested parts use bare names (ours and mmseg's).
    model = build_in_scope(foreign_scope,
                           dict(type='mmcd_plugin.BiTemporalEncoderDecoder', **TINY_MODEL))
    assert type(model).__name__ == 'BiTemporalEncoderDecoder'
    assert type(model.neck) is FeatureFusionNeck
    # the model works: (B, 6, H, W) -> logits of the stride-32 level
    out = model(torch.rand(1, 6, 64, 64), mode='tensor')
    assert out.shape == (1, 2, 2, 2)


def test_foreign_scoped_names_inside_plugin_build(foreign_scope):
    name = ONLY_THERE[foreign_scope]
    cls = MODELS.get(f'{foreign_scope}.{name}')
    assert cls.__name__ == name and MODELS.get(name) is None


def test_opencd_keeps_its_own_bare_names(opencd):
    # Open-CD has a FeatureFusionNeck of its own: its configs keep getting it
    from opencd.registry import MODELS as OPENCD_MODELS
    neck = build_in_scope('opencd', dict(type='FeatureFusionNeck', policy='concat'))
    assert type(neck) is OPENCD_MODELS.get('FeatureFusionNeck')
    assert type(neck) is not FeatureFusionNeck


def test_custom_imports_from_foreign_config(tmp_path, foreign_scope):
    from mmengine.config import Config
    cfg_file = tmp_path / 'opencd_style.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['mmcd_plugin'], allow_failed_imports=False)\n"
        "default_scope = 'fakecd'\n"
        "model = dict(type='mmcd_plugin.FeatureFusionNeck', policy='concat')\n")
    cfg = Config.fromfile(str(cfg_file))
    neck = build_in_scope(cfg.default_scope, cfg.model)
    a, b = torch.ones(1, 2, 3, 3), torch.zeros(1, 2, 3, 3)
    out = neck([a], [b])[0]
    assert out.shape == (1, 4, 3, 3) and out[:, :2].eq(1).all() and out[:, 2:].eq(0).all()


def test_unknown_type_gives_clear_error():
    with pytest.raises(KeyError, match="Unknown model type 'NoSuchNeck'.*mmseg.NoSuchNeck"):
        MODELS.build(dict(type='NoSuchNeck'))
