"""High-level APIs: scene-scale change mapping of georeferenced image pairs."""
from .scene_inferencer import ChangeSceneInferencer
from .scene_io import BiTemporalScene, SceneGridError
from .scene_report import describe_changes, format_change_report, summarize_change_map
from .sliding_window import StripAccumulator, WindowGrid

__all__ = ['ChangeSceneInferencer', 'BiTemporalScene', 'SceneGridError', 'describe_changes',
           'format_change_report', 'summarize_change_map', 'StripAccumulator', 'WindowGrid']
