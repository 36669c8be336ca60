"""Install mmcd_plugin. torch, torchvision and mmcv must be installed first
(mmcv is compiled against torch): use ``bash tools/setup_env.sh``."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version():
    with open(osp.join(HERE, 'mmcd_plugin', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmcd_plugin',
    version=read_version(),
    description='OpenMMLab plugin for binary, semantic and optical-SAR multimodal '
                'change detection (STSF-Net, LSAFNet, S2M, MMChange)',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    install_requires=['torch>=2.6', 'mmcv>=2.0.0,<2.2.0'] + read_requirements('runtime'),
    extras_require=dict(optional=read_requirements('optional'),
                        tests=read_requirements('tests')),
    license='Apache-2.0',
)
