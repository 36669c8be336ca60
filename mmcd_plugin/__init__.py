"""mmcd_plugin: change detection (BCD, SCD, optical-SAR MMCD) for OpenMMLab.

Importing the package registers every module (so ``custom_imports`` from an
Open-CD config works) and makes mmengine checkpoints loadable under torch's
``weights_only`` default.
"""
from .version import __version__
from .engine.checkpoint import allow_mmengine_checkpoints

allow_mmengine_checkpoints()

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401
from . import apis  # noqa: E402,F401

__all__ = ['__version__']
