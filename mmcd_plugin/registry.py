"""Registries of mmcd_plugin.

Every registry hangs directly off mmengine's root registry (as Open-CD's do), so
a config of any OpenMMLab project can reach our modules as ``mmcd_plugin.Name``
(mmengine resolves a foreign scope through the root's direct children).

Two additions make the plugin pleasant to use from both sides:

* **mmseg fallback.** An unscoped name that is not ours is looked up in the
  matching mmseg registry, so our own configs (``default_scope='mmcd_plugin'``)
  write ``dict(type='ResNetV1c')`` or ``dict(type='CrossEntropyLoss')`` exactly
  as an mmseg config would.
* **Scoped nested builds.** ``MODELS.build(cfg)`` called from inside one of our
  modules resolves ``cfg`` (and everything it builds in turn) in our scope,
  whatever the caller's default scope is. A model built from an Open-CD config
  (``default_scope='opencd'``) therefore still finds its own bare-named parts.
  Names qualified with another scope (``opencd.FCNHead``) keep working.
"""
from typing import Any, Optional

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry, build_model_from_cfg

SCOPE = 'mmcd_plugin'


class PluginRegistry(Registry):
    """A root-level child registry with an mmseg fallback and scoped builds.

    Args:
        name (str): Registry name, e.g. ``'model'``.
        parent (Registry): The mmengine root registry of the same kind.
        fallback (str, optional): Attribute name of the mmseg registry that
            unscoped unknown names are looked up in. Defaults to None.
        locations (list[str]): Modules imported lazily on first lookup.
        build_func (callable, optional): As in :class:`mmengine.Registry`.
    """

    def __init__(self, name: str, parent: Registry,
                 fallback: Optional[str] = None, locations=(), build_func=None):
        super().__init__(name, build_func=build_func, parent=parent,
                         scope=SCOPE, locations=list(locations))
        self._fallback_name = fallback

    @property
    def fallback(self) -> Optional[Registry]:
        if self._fallback_name is None:
            return None
        import mmseg.registry as mmseg_registry
        return getattr(mmseg_registry, self._fallback_name)

    def get(self, key: str) -> Optional[Any]:
        scope, real_key = self.split_scope_key(key)
        if scope not in (None, self.scope):
            return super().get(key)
        self.import_from_location()
        if real_key in self._module_dict:
            return self._module_dict[real_key]
        fallback = self.fallback
        if scope is None and fallback is not None:
            obj = fallback.get(real_key)
            if obj is not None:
                return obj
        try:
            return super().get(key)
        except RuntimeError:
            return None

    def build(self, cfg: Any, *args, **kwargs) -> Any:
        if isinstance(cfg, dict) and '_scope_' not in cfg:
            cfg = cfg.copy()
            cfg['_scope_'] = self.scope
        if isinstance(cfg, dict) and isinstance(cfg.get('type'), str) \
                and self.get(cfg['type']) is None and \
                self.split_scope_key(cfg['type'])[0] in (None, self.scope):
            raise KeyError(unknown_type_message(cfg['type'], self))
        return super().build(cfg, *args, **kwargs)


def unknown_type_message(name: str, registry: Registry) -> str:
    """The error text for a config naming a module that no registry has."""
    return (f"Unknown {registry.name} type '{name}' in the config: it is neither "
            f"registered in mmcd_plugin nor in mmsegmentation. Check the spelling, "
            f"import the module that registers it (custom_imports=dict(imports=[...])),"
            f" or qualify a name from another project with its scope, e.g. "
            f"'mmseg.{name}' or 'opencd.{name}'.")


def _registry(name, parent, fallback=None, location=None, build_func=None):
    locations = [f'{SCOPE}.{location}'] if location else []
    return PluginRegistry(name, parent, fallback, locations, build_func)


RUNNERS = _registry('runner', MMENGINE_RUNNERS, 'RUNNERS')
RUNNER_CONSTRUCTORS = _registry('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS,
                                'RUNNER_CONSTRUCTORS')
LOOPS = _registry('loop', MMENGINE_LOOPS, 'LOOPS', 'engine')
HOOKS = _registry('hook', MMENGINE_HOOKS, 'HOOKS', 'engine')
LOG_PROCESSORS = _registry('log processor', MMENGINE_LOG_PROCESSORS, 'LOG_PROCESSORS')
OPTIMIZERS = _registry('optimizer', MMENGINE_OPTIMIZERS, 'OPTIMIZERS', 'engine')
OPTIM_WRAPPERS = _registry('optim wrapper', MMENGINE_OPTIM_WRAPPERS, 'OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _registry('optimizer wrapper constructor',
                                       MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                       'OPTIM_WRAPPER_CONSTRUCTORS', 'engine')
PARAM_SCHEDULERS = _registry('parameter scheduler', MMENGINE_PARAM_SCHEDULERS,
                             'PARAM_SCHEDULERS')
DATASETS = _registry('dataset', MMENGINE_DATASETS, 'DATASETS', 'datasets')
DATA_SAMPLERS = _registry('data sampler', MMENGINE_DATA_SAMPLERS, 'DATA_SAMPLERS')
TRANSFORMS = _registry('transform', MMENGINE_TRANSFORMS, 'TRANSFORMS', 'datasets')
MODELS = _registry('model', MMENGINE_MODELS, 'MODELS', 'models',
                   build_func=build_model_from_cfg)
MODEL_WRAPPERS = _registry('model_wrapper', MMENGINE_MODEL_WRAPPERS, 'MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _registry('weight initializer', MMENGINE_WEIGHT_INITIALIZERS,
                                'WEIGHT_INITIALIZERS')
TASK_UTILS = _registry('task util', MMENGINE_TASK_UTILS, 'TASK_UTILS')
METRICS = _registry('metric', MMENGINE_METRICS, 'METRICS', 'evaluation')
EVALUATOR = _registry('evaluator', MMENGINE_EVALUATOR, 'EVALUATOR', 'evaluation')
VISUALIZERS = _registry('visualizer', MMENGINE_VISUALIZERS, 'VISUALIZERS',
                        'visualization')
VISBACKENDS = _registry('vis_backend', MMENGINE_VISBACKENDS, 'VISBACKENDS',
                        'visualization')
INFERENCERS = _registry('inferencer', MMENGINE_INFERENCERS, 'INFERENCERS')
