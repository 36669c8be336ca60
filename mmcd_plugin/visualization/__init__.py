from .change_visualizer import (ChangeLocalVisualizer, colorize, compose_panel,
                                image_to_rgb, panel_layout, sar_to_grey,
                                stretch_to_uint8)

__all__ = [
    'ChangeLocalVisualizer', 'colorize', 'compose_panel', 'image_to_rgb',
    'panel_layout', 'sar_to_grey', 'stretch_to_uint8'
]
