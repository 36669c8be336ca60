"""Hook drawing change detection panels during validation and testing."""
import os.path as osp
import warnings
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from mmcd_plugin.registry import HOOKS


def sample_stem(data_sample: BaseDataElement) -> str:
    """File name stem of a sample's date-1 image, e.g. 'tile_03'."""
    img_path = data_sample.img_path
    img_path = img_path if isinstance(img_path, str) else img_path[0]
    return osp.splitext(osp.basename(img_path))[0]


@HOOKS.register_module()
class ChangeVisualizationHook(Hook):
    """Draw change detection panels with the current visualizer.

    The visualizer (e.g. :class:`ChangeLocalVisualizer`) reads each sample's
    images from its ``img_path`` itself, so bi-temporal and multi-band
    samples work.

    - Validation: the samples of every ``interval``-th batch go to the vis
      backends.
    - Testing with ``show_dir``: every sample's panel is written to
      ``{work_dir}/{timestamp}/{show_dir}/{stem}.png`` (``stem`` of the
      date-1 image; an absolute ``show_dir`` is used as is).
    - Testing without ``show_dir``: as validation.

    Nothing is drawn unless ``draw`` is True; ``tools/test.py`` sets
    ``draw``, ``show``, ``wait_time`` and ``show_dir`` from its options.

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Batch interval of the backend drawings.
            Defaults to 50.
        show (bool): Whether to display each panel in a window; the vis
            backends are then dropped. Defaults to False.
        wait_time (float): Seconds each shown panel stays. Defaults to 0.
        show_dir (str, optional): Directory of the test panels, relative to
            ``{work_dir}/{timestamp}``. Defaults to None.
    """

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 show_dir: Optional[str] = None):
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        self.draw = draw
        self.interval = interval
        self.show = show
        self.wait_time = wait_time
        self.show_dir = show_dir
        if self.show:
            self._visualizer._vis_backends = {}
            warnings.warn('show=True: panels are only displayed, the vis '
                          'backends are dropped and store nothing.')

    def _draw(self, runner: Runner, outputs: Sequence[BaseDataElement], mode: str,
              out_dir: Optional[str] = None) -> None:
        """Draw each sample, to ``out_dir`` if given, else to the backends."""
        for data_sample in outputs:
            stem = sample_stem(data_sample)
            self._visualizer.add_datasample(
                f'{mode}_{stem}',
                data_sample=data_sample,
                show=self.show,
                wait_time=self.wait_time,
                out_file=osp.join(out_dir, f'{stem}.png') if out_dir else None,
                step=runner.iter)

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[BaseDataElement]) -> None:
        """Draw the samples of every ``interval``-th validation batch."""
        if self.draw and self.every_n_inner_iters(batch_idx, self.interval):
            self._draw(runner, outputs, 'val')

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[BaseDataElement]) -> None:
        """Write every test sample to ``show_dir``, or draw as in validation."""
        if not self.draw:
            return
        if self.show_dir is None:
            if self.every_n_inner_iters(batch_idx, self.interval):
                self._draw(runner, outputs, 'test')
            return
        out_dir = osp.join(runner.work_dir, runner.timestamp, self.show_dir)
        mkdir_or_exist(out_dir)
        self._draw(runner, outputs, 'test', out_dir)
