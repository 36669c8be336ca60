"""Change maps of whole georeferenced scenes: windowed, stitched, resumable.

``ChangeSceneInferencer(model=CONFIG, weights=CKPT)(pre, post, out_dir)``
maps a pair of scenes of any size with a change detector of this plugin:

1. Checks, before any compute: both images are on one grid (CRS, transform,
   size; or ``resample_post`` warps the post-event image onto the pre-event
   grid), each date gives the model the channels its config expects.
2. Windows of ``window`` pixels overlapping by ``overlap`` are read from disk
   (never the whole scene), passed through the config's test pipeline after
   its loading transform (``LoadBiTemporalImages``: the same bands and channel
   repetition, per date, so optical + SAR configs work unchanged) and the
   model's data preprocessor, and batched through ``model.inference`` (which
   follows ``test_cfg``: 'whole' or 'slide' inside each window).
3. Logits are stitched seam-free in row strips (see
   :mod:`mmcd_plugin.apis.sliding_window`); each finished strip becomes class
   indices (and probabilities) and goes to disk with the progress state
   (:mod:`mmcd_plugin.apis.scene_state`), so an interrupted run resumes.
4. Outputs in ``out_dir``: ``change_map.tif`` (uint8 class indices, the
   model's palette embedded, 255 = nodata / not predicted, tiled, deflate,
   the pre-event CRS and transform), optionally ``change_probabilities.tif``
   (one band per class; uint8 percent 0..100 with nodata 255, or float32
   with nodata NaN), ``change_polygons.geojson`` / ``.gpkg`` (one polygon per
   connected change region with class and area in m^2),
   ``change_summary.json`` and ``change_report.txt``
   (:mod:`mmcd_plugin.apis.scene_report`) and ``change_quicklook.png``.
   A semantic change detector (a model with a ``semantic_head``, e.g.
   LSAFNet) also gives ``semantic_change_from.tif`` / ``semantic_change_to.tif``
   (each date's semantic class where change was detected, the no-change class
   elsewhere, the semantic palette embedded: Open-CD's ``pred_sem_seg_from`` /
   ``pred_sem_seg_to`` for the whole scene) and the summary and report list
   the from -> to transitions with their areas.

Invalid pixels (nodata value, mask or alpha of either date, NaN/Inf, outside
the post-event image after resampling) get the loading transform's
``nonfinite_value`` as input, class 255 in the map, and are counted in the
report: they are never predicted as change.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.utils import ProgressBar

from mmcd_plugin.datasets.change_text import make_class_table
from mmcd_plugin.datasets.transforms.loading import LoadBiTemporalImages, \
    LoadChangeAnnotations
from mmcd_plugin.models.segmentors.semantic_change_encoder_decoder import DATES, \
    masked_semantic_argmax
from mmcd_plugin.registry import DATASETS, TRANSFORMS
from mmcd_plugin.utils.inference_optimization import optimize_for_inference
from mmcd_plugin.utils.precision import fp32_logits, inference_precision, resolve_precision
from mmcd_plugin.visualization.change_visualizer import colorize
from .scene_io import BiTemporalScene
from .scene_outputs import NODATA_CLASS, POLYGON_DRIVERS, PROBABILITY_NODATA, AreaMeter, \
    BlockRowWriter, PolygonWriter, geotiff_profile, iter_change_regions, write_class_table
from .scene_report import format_change_report, summarize_change_map, summarize_transitions
from .scene_state import StripStore, file_fingerprint
from .sliding_window import StripAccumulator, WindowGrid

OUTPUT_NAMES = dict(class_map='change_map.tif', probabilities='change_probabilities.tif',
                    semantic_from='semantic_change_from.tif',
                    semantic_to='semantic_change_to.tif',
                    summary='change_summary.json', report='change_report.txt',
                    quicklook='change_quicklook.png')
QUICKLOOK_SIZE = 1024
#: Rows turned into classes / probabilities at a time.
FINISH_ROWS = 64


class ScenePipeline(NamedTuple):
    """The config's loading transform and the test transforms after it."""
    loader: LoadBiTemporalImages
    transforms: Compose


def dataset_meta_from_config(cfg) -> dict:
    """``classes``/``palette``/``modalities`` of the config's test dataset type."""
    dataset_cfg = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    dataset_type = dataset_cfg.get('type')
    dataset_cls = DATASETS.get(dataset_type) if dataset_type else None
    meta = dict(getattr(dataset_cls, 'METAINFO', {}))
    meta.update(dataset_cfg.get('metainfo') or {})
    return meta


def default_class_table(num_classes: int) -> dict:
    """Names and colours for a model whose config names no classes."""
    names = ('unchanged', 'changed') if num_classes == 2 else \
        tuple(f'class {i}' for i in range(num_classes))
    palette = np.random.RandomState(0).randint(0, 256, (num_classes, 3))
    palette[0] = 0
    return dict(classes=names, palette=palette.tolist())


def checked_class_table(meta: dict, num_classes: int, prefix: str = '',
                        source: str = '') -> dict:
    """``meta``'s ``{prefix}classes`` / ``{prefix}palette`` (under the same
    keys in the result), defaults when absent.

    Raises:
        ValueError: The named classes do not fit the model's ``num_classes``.
    """
    names, palette = meta.get(f'{prefix}classes'), meta.get(f'{prefix}palette')
    default = default_class_table(num_classes)
    if not names:
        names = default['classes']
    if len(names) != num_classes:
        raise ValueError(f'The {prefix}class table ({len(names)} classes: {list(names)}) does '
                         f'not fit the model ({num_classes} classes). Check {source} and '
                         'the dataset in the config.')
    if len(palette or []) < num_classes:
        palette = default['palette']
    return {f'{prefix}classes': tuple(names), f'{prefix}palette': [list(c) for c in palette]}


class ChangeSceneInferencer(BaseInferencer):
    """Map the changes between two georeferenced scenes of any size.

    Args:
        model (str | dict | Config): Config file or config of the model.
        weights (str, optional): Checkpoint (mmengine layout: ``state_dict``
            and ``meta.dataset_meta``). None keeps random weights (with a
            warning). Defaults to None.
        device (str, optional): Torch device; None picks the available one.
        scope (str): Registry scope. Defaults to 'mmcd_plugin'.
        change_classes (str | dict, optional): S2M class table (a name in
            ``mmcd_plugin.datasets.change_text.CLASS_TABLES`` such as
            'levir_cd', or ``{class index: (category, change type)}``): the
            report then describes each change class in S2M's words
            ("several newly built buildings in the north-east, ..."). None
            keeps the class names. Defaults to None.
        optimize (bool): Fold BatchNorms, ReLUs and residual sums into
            the convolutions, run channels-last and keep freed memory for reuse
            (:func:`mmcd_plugin.utils.optimize_for_inference`: the same
            outputs, faster). Defaults to True.
        precision (str): 'fp32' or 'bf16': matmuls and convolutions in
            bfloat16 under ``torch.autocast`` (STSF-Net's scenes 1.6x and
            LSAFNet's 1.8x faster on a 2-core CPU with ``avx512_bf16``, see
            ``docs/benchmarks.md``); the classifier, logits, stitching,
            softmax and argmax stay fp32. Falls back to fp32 with a log
            line where bf16 is not native. Defaults to 'fp32'.

    Example::

        inferencer = ChangeSceneInferencer('configs/tiny/tiny_siamese-resnet_levir-cd.py',
                                           'work_dirs/tiny/iter_20.pth', device='cpu')
        result = inferencer('pre.tif', 'post.tif', 'out/', window=512, overlap=128)
        print(result['report'])
    """

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 scope: str = 'mmcd_plugin', change_classes=None, optimize: bool = True,
                 precision: str = 'fp32'):
        init_default_scope(scope)
        self.weights = weights
        self.change_classes = None if change_classes is None else make_class_table(change_classes)
        super().__init__(model=model, weights=weights, device=device, scope=scope)
        self.dataset_meta = self._class_table()
        # folded weights and bf16 round differently: part of the run's identity
        self.optimized = optimize
        self.precision = resolve_precision(precision, str(self.model.data_preprocessor.device))
        if optimize:
            optimize_for_inference(self.model)
        fp32_logits(self.model)

    # --- mmengine BaseInferencer hooks -------------------------------------------------
    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        meta = {}
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint, strict=True)
            meta = (checkpoint.get('meta') or {}).get('dataset_meta') or {}
        else:
            print_log('No checkpoint given: the model keeps its random weights.',
                      logger='current', level=30)
        model.dataset_meta = {**dataset_meta_from_config(cfg), **meta}

    def _init_pipeline(self, cfg) -> ScenePipeline:
        test_loader = cfg.get('test_dataloader') or {}
        pipeline_cfg = (test_loader.get('dataset') or {}).get('pipeline') or \
            cfg.get('test_pipeline') or [dict(type='LoadBiTemporalImages'),
                                         dict(type='PackChangeInputs')]
        transforms = [TRANSFORMS.build(t) for t in pipeline_cfg]
        loaders = [t for t in transforms if isinstance(t, LoadBiTemporalImages)]
        rest = [t for t in transforms
                if not isinstance(t, (LoadBiTemporalImages, LoadChangeAnnotations))]
        return ScenePipeline(loaders[0] if loaders else LoadBiTemporalImages(), Compose(rest))

    def _init_collate(self, cfg):
        return pseudo_collate  # what the data preprocessor expects of a batch of windows

    def _init_visualizer(self, cfg):
        return None  # the quicklook needs only the palette

    @property
    def semantic_head(self):
        """The semantic head of a semantic change detector, else None."""
        return getattr(self.model, 'semantic_head', None)

    def _class_table(self) -> dict:
        meta = dict(self.model.dataset_meta)
        source = f'the checkpoint {self.weights}'
        meta.update(checked_class_table(meta, max(self.model.out_channels, 2), '', source))
        if self.semantic_head is not None:
            meta.update(checked_class_table(meta, self.semantic_head.num_classes, 'semantic_',
                                            source))
        return meta

    @property
    def logit_channels(self) -> List[int]:
        """Channels of the stitched logit maps: change, then each date's semantics."""
        semantic = [self.semantic_head.num_classes] * len(DATES) \
            if self.semantic_head is not None else []
        return [self.model.out_channels] + semantic

    def preprocess(self, inputs: Sequence[tuple], batch_size: int = 1, scene=None,
                   window_hw=None):
        """Batches of windows ``(row, col)``: ``(data, flags per window)``."""
        from rasterio.windows import Window
        for start in range(0, len(inputs), batch_size):
            samples, flags = [], []
            for row, col in inputs[start:start + batch_size]:
                images, invalid = scene.read(Window(col, row, window_hw[1], window_hw[0]))
                results = dict(img=images, img_path=list(scene.paths),
                               img_shape=window_hw, ori_shape=window_hw, seg_fields=[],
                               modalities=list(self.dataset_meta.get('modalities',
                                                                     ('optical', 'optical'))))
                samples.append(self.pipeline.transforms(results))
                flags.append(invalid)
            yield self.collate_fn(samples), flags

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> List[np.ndarray]:
        """``(C, h, w)`` float32 logits of each window, at window size."""
        from mmseg.models.utils import resize
        data = self.model.data_preprocessor(inputs, False)
        samples = data['data_samples']
        with inference_precision(self.precision, str(data['inputs'].device)):
            logits = self.model.inference(data['inputs'], [s.metainfo for s in samples])
        if isinstance(logits, dict):  # semantic change detection: X_C, X_1, X_2
            logits = torch.cat([logits['seg_logits']] + [logits[f'seg_logits_{date}']
                                                         for date in DATES], dim=1)
        out = []
        for index, sample in enumerate(samples):
            left, right, top, bottom = sample.metainfo.get('padding_size', (0, 0, 0, 0))
            height, width = logits.shape[-2:]
            window = logits[index:index + 1, :, top:height - bottom, left:width - right]
            if tuple(window.shape[-2:]) != tuple(sample.metainfo['ori_shape']):
                window = resize(window, size=sample.metainfo['ori_shape'], mode='bilinear',
                                align_corners=self.model.align_corners, warning=False)
            out.append(window[0].float().cpu().numpy())
        return out

    def visualize(self, inputs, preds: str, show: bool = False, out_file: str = None,
                  **kwargs) -> np.ndarray:
        """A colour quicklook (at most QUICKLOOK_SIZE pixels) of the class map ``preds``."""
        import cv2
        import rasterio
        with rasterio.open(preds) as src:
            scale = max(src.height, src.width) / QUICKLOOK_SIZE
            shape = (max(1, round(src.height / max(scale, 1))),
                     max(1, round(src.width / max(scale, 1))))
            classes = src.read(1, out_shape=shape)
        image = colorize(classes, self.dataset_meta['palette'])
        if out_file:
            cv2.imwrite(out_file, image[..., ::-1])
        return image

    def postprocess(self, preds: str, visualization=None, return_datasample: bool = False,
                    out_dir: str = '', polygons: Sequence[str] = ('geojson', ),
                    header: Sequence[str] = (), nodata_by_date=None,
                    semantic_maps: Optional[Sequence[str]] = None, **kwargs) -> dict:
        """Polygons, summary and text report of the class map ``preds`` (and
        the from -> to transitions of the two ``semantic_maps``, if given)."""
        import rasterio
        with rasterio.open(preds) as src:
            meter = AreaMeter(src.crs, src.transform, (src.height, src.width))
            crs = src.crs
        classes = list(self.dataset_meta['classes'])
        paths = {kind: osp.join(out_dir, 'change_polygons' + POLYGON_DRIVERS[kind][1])
                 for kind in polygons}
        for path in paths.values():
            if osp.exists(path):
                os.remove(path)
        regions = iter_change_regions(preds, classes, meter)
        if paths:
            with PolygonWriter(paths, crs) as writer:
                summary = summarize_change_map(preds, classes, writer.passthrough(regions),
                                               nodata_by_date=nodata_by_date)
        else:
            summary = summarize_change_map(preds, classes, regions,
                                           nodata_by_date=nodata_by_date)
        if semantic_maps:
            summary['transitions'] = summarize_transitions(
                *semantic_maps, self.dataset_meta['semantic_classes'],
                self.semantic_head.no_change_index)
        report = format_change_report(summary, header, self.change_classes)
        outputs = dict(polygons=paths)
        for key, text in (('summary', json.dumps(summary, indent=1)), ('report', report)):
            outputs[key] = osp.join(out_dir, OUTPUT_NAMES[key])
            with open(outputs[key], 'w') as f:
                f.write(text)
        return dict(outputs=outputs, summary=summary, report=report)

    # --- scene run ------------------------------------------------------------------
    def __call__(self, pre: str, post: str, out_dir: str, window: int = 512,
                 overlap: int = 128, margin: Optional[int] = None, batch_size: int = 4,
                 probabilities: bool = False, probability_dtype: str = 'uint8',
                 resample_post: bool = False, resampling: str = 'bilinear',
                 polygons: Sequence[str] = ('geojson', ), max_strips: Optional[int] = None,
                 progress: bool = True, keep_state: bool = False,
                 gdal_cache_mb: int = 64) -> dict:
        """Map the changes from ``pre`` to ``post`` into ``out_dir``.

        Args:
            pre (str): Pre-event raster (defines the output grid).
            post (str): Post-event raster.
            out_dir (str): Output directory (created).
            window (int): Window side in pixels. Defaults to 512.
            overlap (int): Overlap of neighbouring windows. Defaults to 128.
            margin (int, optional): Window border pixels given no weight where
                windows overlap. Defaults to ``overlap // 4``.
            batch_size (int): Windows per forward pass. Defaults to 4.
            probabilities (bool): Also write per-class probabilities.
                Defaults to False.
            probability_dtype (str): 'uint8' (percent, nodata 255) or
                'float32' (nodata NaN). Defaults to 'uint8'.
            resample_post (bool): Warp the post-event image onto the
                pre-event grid when the grids differ. Defaults to False.
            resampling (str): Warp resampling. Defaults to 'bilinear'.
            polygons (Sequence[str]): Polygon files to write, any of
                'geojson', 'gpkg'. Defaults to ('geojson', ).
            max_strips (int, optional): Stop after this many strips (rerun
                to continue; e.g. for time-limited jobs). Defaults to None.
            progress (bool): Show a progress bar with ETA. Defaults to True.
            keep_state (bool): Keep the strip files after success.
                Defaults to False.
            gdal_cache_mb (int): GDAL block cache limit. Defaults to 64.

        Returns:
            dict: ``status`` ('complete' or 'incomplete'), ``outputs`` (file
            paths), ``summary`` (see ``summarize_change_map``), ``report``.
        """
        import rasterio
        if probability_dtype not in PROBABILITY_NODATA:
            raise ValueError(f'probability_dtype must be one of {list(PROBABILITY_NODATA)}')
        unknown = set(polygons) - set(POLYGON_DRIVERS)
        if unknown:
            raise ValueError(f'Unknown polygon formats {sorted(unknown)}; use '
                             f'{sorted(POLYGON_DRIVERS)}.')
        options = dict(window=window, overlap=overlap, margin=margin, batch_size=batch_size,
                       probabilities=probabilities, probability_dtype=probability_dtype,
                       resample_post=resample_post, resampling=resampling)
        os.makedirs(out_dir, exist_ok=True)
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb):   # GDAL's cache: 5 % of RAM otherwise
            return self._map_scene(pre, post, out_dir, options, polygons, max_strips, progress,
                                   keep_state)

    def _map_scene(self, pre: str, post: str, out_dir: str, options: dict,
                   polygons: Sequence[str], max_strips: Optional[int], progress: bool,
                   keep_state: bool) -> dict:
        with BiTemporalScene(pre, post, self.pipeline.loader, options['resample_post'],
                             options['resampling']) as scene:
            scene.check_channels(getattr(self.model.data_preprocessor, 'in_channels', None))
            grid = WindowGrid(scene.shape, options['window'], options['overlap'],
                              options['margin'])
            store = StripStore(out_dir, self._fingerprint(pre, post, options))
            self._run_strips(scene, grid, store, options, max_strips, progress)
            if store.finished_strips < len(grid.rows):
                print_log(f'Stopped after {store.finished_strips} of {len(grid.rows)} strips; '
                          'run again with the same arguments to continue.', logger='current')
                return dict(status='incomplete', outputs={}, summary=None, report=None)
            outputs = self._write_rasters(scene.pre.profile, store, out_dir, options)
        nodata_by_date = store.stats.get('nodata_by_date', [0, 0])
        self._log_nodata(pre, post, nodata_by_date, grid)
        semantic_maps = [outputs[f'semantic_{date}'] for date in DATES
                         if f'semantic_{date}' in outputs]
        result = self.postprocess(outputs['class_map'], out_dir=out_dir, polygons=polygons,
                                  header=[f'pre-event:  {pre}', f'post-event: {post}'],
                                  nodata_by_date=nodata_by_date, semantic_maps=semantic_maps)
        outputs.update(result['outputs'])
        outputs['quicklook'] = osp.join(out_dir, OUTPUT_NAMES['quicklook'])
        self.visualize((pre, post), outputs['class_map'], out_file=outputs['quicklook'])
        if not keep_state:
            store.remove()
        return dict(status='complete', outputs=outputs, summary=result['summary'],
                    report=result['report'])

    def _fingerprint(self, pre: str, post: str, options: dict) -> dict:
        config = json.dumps(self.cfg.to_dict(), sort_keys=True, default=repr)
        return dict(config=hashlib.sha256(config.encode()).hexdigest(),
                    weights=file_fingerprint(self.weights), pre=file_fingerprint(pre),
                    post=file_fingerprint(post), device=str(self.model.data_preprocessor.device),
                    optimized=self.optimized, precision=self.precision, options=options)

    def _run_strips(self, scene, grid: WindowGrid, store: StripStore, options: dict,
                    max_strips: Optional[int], progress: bool) -> None:
        accumulator = StripAccumulator(sum(self.logit_channels), grid.window_h, grid.width)
        carry = store.carry()
        if carry is not None:
            accumulator.load_state_dict(carry)
            print_log(f'Resuming at strip {store.finished_strips + 1} of {len(grid.rows)}.',
                      logger='current')
        todo = range(store.finished_strips, len(grid.rows))
        if max_strips is not None:
            todo = todo[:max_strips]
        bar = ProgressBar(len(todo) * len(grid.cols)) if progress and len(todo) else None
        stats = dict(store.stats)
        for index in todo:
            row = grid.rows[index]
            windows = [(row, col) for col in grid.cols]
            batches = self.preprocess(windows, options['batch_size'], scene=scene,
                                      window_hw=(grid.window_h, grid.window_w))
            done = 0
            for data, flags in batches:
                for logits, invalid in zip(self.forward(data), flags):
                    col = windows[done][1]
                    accumulator.add(logits, grid.weight(row, col), invalid, row, col)
                    done += 1
                    if bar:
                        bar.update()
            logits, weights, flags = accumulator.pop_rows(grid.strip_end(index))
            outputs = self._finish_strip(logits, weights, flags, options)
            stats['nodata_by_date'] = [
                int(v) + int(((flags >> bit) & 1).sum())
                for bit, v in enumerate(stats.get('nodata_by_date', [0, 0]))]
            store.save_strip(index, outputs, accumulator.state_dict(), stats)
        if bar:
            print()

    def _finish_strip(self, logits: np.ndarray, weights: np.ndarray, flags: np.ndarray,
                      options: dict) -> Dict[str, np.ndarray]:
        """Class indices (and probabilities) of finished rows; invalid -> nodata.

        Rows go in chunks of FINISH_ROWS so the float temporaries stay small.
        """
        chunks = [self._finish_rows(logits[:, start:start + FINISH_ROWS],
                                    weights[start:start + FINISH_ROWS],
                                    flags[start:start + FINISH_ROWS], options)
                  for start in range(0, weights.shape[0], FINISH_ROWS)]
        return {key: np.concatenate([chunk[key] for chunk in chunks], axis=-2)
                for key in chunks[0]}

    def _finish_rows(self, logits, weights, flags, options) -> Dict[str, np.ndarray]:
        logits = logits / weights[None]
        logits, *semantic = np.split(logits, np.cumsum(self.logit_channels)[:-1])
        if logits.shape[0] == 1:
            change = 1 / (1 + np.exp(-logits[0]))
            probs = np.stack([1 - change, change])
            classes = (change > self.model.decode_head.threshold).astype(np.uint8)
        else:
            exp = np.exp(logits - logits.max(axis=0, keepdims=True))
            probs = exp / exp.sum(axis=0, keepdims=True)
            classes = logits.argmax(axis=0).astype(np.uint8)
        invalid = flags != 0
        outputs = dict(classes=classes)
        for date, date_logits in zip(DATES, semantic):
            outputs[f'semantic_{date}'] = self._semantic_change(date_logits, classes != 0)
            outputs[f'semantic_{date}'][invalid] = NODATA_CLASS
        classes[invalid] = NODATA_CLASS
        if options['probabilities']:
            if options['probability_dtype'] == 'uint8':
                probs = np.round(probs * 100).astype(np.uint8)
            else:
                probs = probs.astype(np.float32)
            probs[:, invalid] = PROBABILITY_NODATA[options['probability_dtype']]
            outputs['probabilities'] = probs
        return outputs

    def _semantic_change(self, logits: np.ndarray, changed: np.ndarray) -> np.ndarray:
        """One date's semantic change map, as the model's own predictions
        (:func:`masked_semantic_argmax`), in uint8."""
        return masked_semantic_argmax(torch.from_numpy(logits), torch.from_numpy(changed),
                                      self.semantic_head.no_change_index).numpy().astype(np.uint8)

    def _write_rasters(self, scene_profile: dict, store: StripStore, out_dir: str,
                       options: dict) -> Dict[str, str]:
        """Assemble the finished strips into the class-map (and probability,
        semantic change) GeoTIFFs."""
        import rasterio
        num_classes = len(self.dataset_meta['classes'])
        class_map = geotiff_profile(scene_profile, 1, 'uint8', NODATA_CLASS)
        specs = {'class_map': ('classes', class_map)}
        table_prefixes = {'class_map': ''}
        if self.semantic_head is not None:
            for date in DATES:
                specs[f'semantic_{date}'] = (f'semantic_{date}', class_map)
                table_prefixes[f'semantic_{date}'] = 'semantic_'
        if options['probabilities']:
            dtype = options['probability_dtype']
            specs['probabilities'] = ('probabilities', geotiff_profile(
                scene_profile, num_classes, dtype, PROBABILITY_NODATA[dtype]))
        paths = {name: osp.join(out_dir, OUTPUT_NAMES[name]) for name in specs}
        datasets = {name: rasterio.open(paths[name] + '.part.tif', 'w', **profile)
                    for name, (_, profile) in specs.items()}
        try:
            writers = {name: BlockRowWriter(dataset) for name, dataset in datasets.items()}
            for strip in store.strips():
                for name, (key, _) in specs.items():
                    rows = strip[key]
                    writers[name].write(rows[None] if rows.ndim == 2 else rows)
            for writer in writers.values():
                writer.close()
            for name, prefix in table_prefixes.items():
                write_class_table(datasets[name], self.dataset_meta[f'{prefix}classes'],
                                  self.dataset_meta[f'{prefix}palette'])
            for band, name in enumerate(self.dataset_meta['classes'][:num_classes], 1):
                if 'probabilities' in datasets:
                    datasets['probabilities'].set_band_description(band, name)
        finally:
            for dataset in datasets.values():
                dataset.close()
        for name, path in paths.items():
            os.replace(path + '.part.tif', path)
        return paths

    @staticmethod
    def _log_nodata(pre: str, post: str, nodata_by_date: Sequence[int],
                    grid: WindowGrid) -> None:
        total = grid.height * grid.width
        for path, count in zip((pre, post), nodata_by_date):
            if count:
                print_log(f'{path}: {count} of {total} pixels ({100 * count / total:.2f} %) '
                          'are nodata; they are not predicted (255 in the class map).',
                          logger='current', level=30)
