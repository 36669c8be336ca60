"""Describe every image of a change-detection dataset with a local vision-language model.

MMChange (Zhou et al., Sec. III-A) describes each image of both dates with
TinyLLaVA and the prompt "What are the components in this picture?"; the
descriptions feed its text stream. This tool writes them as JSON
``{image path relative to the data root: description}``, the format the
datasets read through ``caption_file``.

The model is a local Hugging Face directory (nothing is downloaded) that
transformers' ``AutoProcessor`` and ``AutoModelForImageTextToText`` load, e.g.
a TinyLLaVA or LLaVA checkpoint in the ``llava-hf`` format. The prompt goes
through the processor's chat template when it has one, else through
``--prompt-template`` (LLaVA-1.5 style by default).

From a config: the images of every split (train/val/test dataloaders) go to
``<data_root>/<caption_file>`` of that split's dataset::

    python tools/caption_images.py --config configs/mmchange/mmchange_r50_levir-cd.py \\
        --model checkpoints/TinyLLaVA-hf

From folders (keys relative to ``--data-root``)::

    python tools/caption_images.py --data-root data/LEVIR-CD/train --image-dirs A B \\
        --model checkpoints/TinyLLaVA-hf --out data/LEVIR-CD/train/captions.json

Resumable: images already in the output file are skipped, and the file is
rewritten atomically every ``--save-every`` images, so an interrupted run
continues where it stopped.
"""
import argparse
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar

import mmcd_plugin  # noqa: F401  (registers the datasets)
from mmcd_plugin.datasets.captions import (DEFAULT_PROMPT, caption_key, read_captions,
                                           write_captions)
from mmcd_plugin.datasets.io import read_image
from mmcd_plugin.registry import DATASETS

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
LLAVA_TEMPLATE = 'USER: {image}\n{prompt} ASSISTANT:'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@dataclass
class CaptionJob:
    """Images under one data root and the caption file they go to."""
    data_root: str
    images: List[str]
    out_file: str


class VisionLanguageCaptioner:
    """A local Hugging Face image-text-to-text model answering one prompt per image.

    Args:
        model_dir (str): Local model directory (config, weights, processor).
        prompt (str): The question. Defaults to the paper's.
        prompt_template (str, optional): Used when the processor has no chat
            template; ``{image}`` is replaced by the image token and
            ``{prompt}`` by the prompt. Defaults to LLaVA-1.5's.
        max_new_tokens (int): Longest description in tokens. Defaults to 128.
        device (str): Torch device. Defaults to 'cpu'.
    """

    def __init__(self, model_dir: str, prompt: str = DEFAULT_PROMPT,
                 prompt_template: Optional[str] = None, max_new_tokens: int = 128,
                 device: str = 'cpu'):
        from transformers import AutoModelForImageTextToText, AutoProcessor
        if not osp.isdir(model_dir):
            raise FileNotFoundError(
                f'Vision-language model directory {model_dir!r} not found. Download a '
                'Hugging Face format TinyLLaVA / LLaVA checkpoint (config.json, weights, '
                'processor files) on a machine with internet access and pass its folder '
                'with --model.')
        self.processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_dir, local_files_only=True).to(device).eval()
        tokenizer = getattr(self.processor, 'tokenizer', None)
        if tokenizer is not None:
            tokenizer.padding_side = 'left'  # batched generation continues every row's prompt
        self.prompt_text = self.format_prompt(prompt, prompt_template)
        self.max_new_tokens = max_new_tokens
        self.device = device

    def format_prompt(self, prompt: str, template: Optional[str]) -> str:
        """The full text input: chat template, or ``template`` with the image token."""
        if template is None and getattr(self.processor, 'chat_template', None):
            messages = [dict(role='user', content=[dict(type='image'),
                                                   dict(type='text', text=prompt)])]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        image_token = getattr(self.processor, 'image_token', None) or '<image>'
        return (template or LLAVA_TEMPLATE).format(image=image_token, prompt=prompt)

    @torch.no_grad()
    def __call__(self, images: Sequence) -> List[str]:
        """Greedy descriptions of PIL images."""
        inputs = self.processor(images=list(images), text=[self.prompt_text] * len(images),
                                return_tensors='pt', padding=True).to(self.device)
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                     do_sample=False)
        if not self.model.config.is_encoder_decoder:
            output = output[:, inputs['input_ids'].shape[1]:]
        return [text.strip() for text in
                self.processor.batch_decode(output, skip_special_tokens=True)]


def load_rgb(path: str):
    """An image file as an 8-bit RGB PIL image (grey repeated, extra bands
    dropped, other dtypes stretched min-max)."""
    from PIL import Image
    array, _ = read_image(path)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    array = array[..., :3]
    if array.dtype != np.uint8:
        array = array.astype(np.float64)
        low, high = np.nanmin(array), np.nanmax(array)
        array = np.nan_to_num((array - low) / max(high - low, 1e-12) * 255)
        array = array.astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def folder_job(data_root: str, image_dirs: Sequence[str], out_file: Optional[str]) -> CaptionJob:
    """Every image file under ``data_root/<dir>`` for each of ``image_dirs``."""
    images = []
    for folder in image_dirs:
        path = osp.join(data_root, folder)
        if not osp.isdir(path):
            raise FileNotFoundError(f'Image folder {path} not found (--data-root {data_root}, '
                                    f'--image-dirs {" ".join(image_dirs)}).')
        images += [osp.join(root, name) for root, _, names in os.walk(path)
                   for name in names if name.lower().endswith(IMAGE_SUFFIXES)]
    return CaptionJob(data_root, sorted(images),
                      out_file or osp.join(data_root, 'captions.json'))


def config_jobs(cfg: Config, loaders: Sequence[str] = LOADERS,
                default_caption_file: str = 'captions.json') -> List[CaptionJob]:
    """One job per distinct dataset of the config's dataloaders: both dates'
    images of every sample, written to the dataset's ``caption_file``."""
    jobs: Dict[str, CaptionJob] = {}
    for loader in loaders:
        dataset_cfg = (cfg.get(loader) or {}).get('dataset')
        if not dataset_cfg:
            continue
        dataset_cfg = dict(dataset_cfg, pipeline=[], caption_file='')
        caption_file = cfg.get(loader).dataset.get('caption_file') or default_caption_file
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmcd_plugin')):
            dataset = DATASETS.build(dataset_cfg)
        out_file = caption_file if osp.isabs(caption_file) else \
            osp.join(dataset.data_root, caption_file)
        images = sorted({path for index in range(len(dataset))
                         for path in dataset.get_data_info(index)['img_path']})
        if out_file in jobs:
            jobs[out_file].images = sorted(set(jobs[out_file].images) | set(images))
        else:
            jobs[out_file] = CaptionJob(dataset.data_root, images, out_file)
    if not jobs:
        raise ValueError(f'The config has no dataset in {", ".join(loaders)}.')
    return list(jobs.values())


def existing_captions(job: CaptionJob) -> Dict[str, str]:
    return read_captions(job.out_file) if osp.isfile(job.out_file) else {}


def pending_images(job: CaptionJob, captions: Dict[str, str]) -> List[str]:
    """The job's images without a caption yet."""
    return [path for path in job.images if caption_key(path, job.data_root) not in captions]


def run_job(job: CaptionJob, captioner: Callable[[Sequence], List[str]],
            batch_size: int = 1, save_every: int = 50) -> Dict[str, str]:
    """Caption the job's images that its file lacks; save every ``save_every``."""
    captions = existing_captions(job)
    todo = pending_images(job, captions)
    print(f'{job.out_file}: {len(job.images) - len(todo)} of {len(job.images)} images '
          f'already described, {len(todo)} to go')
    if not todo:
        return captions
    progress = ProgressBar(len(todo))
    unsaved = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        for path, text in zip(batch, captioner([load_rgb(p) for p in batch])):
            captions[caption_key(path, job.data_root)] = text
            progress.update()
        unsaved += len(batch)
        if unsaved >= save_every:
            write_captions(captions, job.out_file)
            unsaved = 0
    write_captions(captions, job.out_file)
    return captions


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Describe every image of a dataset with a '
                                     'local vision-language model (MMChange captions)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--config', help='config whose train/val/test datasets are described '
                        '(each into <data_root>/<caption_file>)')
    source.add_argument('--data-root', help='root the JSON keys are relative to')
    parser.add_argument('--image-dirs', nargs='+', default=['A', 'B'],
                        help='with --data-root: the image folders of both dates')
    parser.add_argument('--out', help='with --data-root: output JSON '
                        '(default DATA_ROOT/captions.json)')
    parser.add_argument('--model', required=True, help='local Hugging Face model directory')
    parser.add_argument('--prompt', default=DEFAULT_PROMPT)
    parser.add_argument('--prompt-template', help='used when the processor has no chat '
                        f'template; default {LLAVA_TEMPLATE!r}')
    parser.add_argument('--max-new-tokens', type=int, default=128)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--save-every', type=int, default=50,
                        help='rewrite the JSON after this many new images')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.config:
        jobs = config_jobs(Config.fromfile(args.config))
    else:
        jobs = [folder_job(args.data_root, args.image_dirs, args.out)]
    if not any(pending_images(job, existing_captions(job)) for job in jobs):
        print('Every image is described already: ' + ', '.join(j.out_file for j in jobs))
        return
    captioner = VisionLanguageCaptioner(args.model, args.prompt, args.prompt_template,
                                        args.max_new_tokens, args.device)
    for job in jobs:
        run_job(job, captioner, args.batch_size, args.save_every)


if __name__ == '__main__':
    main()
