"""tools/analysis_tools/benchmark_authors.py: loading the authors' released
files as they are."""
import importlib.util
import os.path as osp
import textwrap

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'benchmark_authors', osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_authors.py'))
benchmark_authors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_authors)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_mmchange_clone_with_the_released_quirks_loads(tmp_path):
    """A repository laid out like yikuizhai/MMchange, with its quirks: the
    package __init__ imports a missing module, model.py uses np without
    importing it, and the ResNet wants a pretrained file."""
    write(tmp_path / 'model' / '__init__.py', 'from models import *\n')
    write(tmp_path / 'model' / 'resnet.py', '''
        import torch.nn as nn
        def resnet50(pretrained=False, **kwargs):
            if pretrained:
                raise OSError('would load https://download.pytorch.org/...')
            return nn.Identity()
        class Resnet50(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = resnet50(pretrained=True)
        ''')
    write(tmp_path / 'model' / 'model.py', '''
        import torch.nn as nn
        from .resnet import Resnet50
        class BaseNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = Resnet50()
            def forward(self, x1, x2, text_a, text_b):
                return (x1 - x2) * np.sqrt(4.0) + text_a.sum() - text_b.sum()
        ''')
    net = benchmark_authors.load_mmchange(str(tmp_path))
    x1, x2 = torch.full((1, 3, 2, 2), 3.0), torch.ones(1, 3, 2, 2)
    out = net(x1, x2, torch.ones(1, 512), torch.zeros(1, 512))
    assert torch.equal(out, torch.full((1, 3, 2, 2), 2 * 2.0 + 512))


def test_lsafnet_clone_loads_without_downloading_weights(tmp_path):
    write(tmp_path / 'models' / 'SCD.py', '''
        import torch.nn as nn
        import torchvision.models as models
        class SCDNet(nn.Module):
            def __init__(self, channels=3, num_classes=7):
                super().__init__()
                self.resnet = models.resnet34(pretrained=True)
                self.num_classes = num_classes
        ''')
    net = benchmark_authors.load_lsafnet(str(tmp_path))
    assert net.num_classes == 7 and net.resnet.fc.out_features == 1000
    import torchvision
    assert torchvision.models.resnet34.__name__ == 'resnet34'  # restored
    with pytest.raises(FileNotFoundError, match='clone of the authors'):
        benchmark_authors.load_lsafnet(str(tmp_path / 'missing'))
