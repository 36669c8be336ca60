"""Per-image captions of a change-detection dataset (MMChange's text modality).

MMChange (Zhou et al., "Multimodal Feature Fusion Network with Text
Difference Enhancement for Remote Sensing Change Detection", Sec. III-A)
describes every image of both dates with a vision-language model (TinyLLaVA,
prompt "What are the components in this picture?"); the two descriptions of a
pair feed the Textual Difference Enhancement module. ``tools/caption_images.py``
writes them, this module reads them.

A caption file is a JSON object ``{image path: caption}`` whose keys are the
image paths relative to the dataset's ``data_root`` with ``/`` separators
(``"A/test_2_0000_0000.png"``), so a dataset and its captions move together.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

#: The prompt of the paper (Sec. IV-D, Fig. 11: the best of the prompts tried).
DEFAULT_PROMPT = 'What are the components in this picture?'


def caption_key(image_path: str, data_root: str) -> str:
    """The caption-file key of an image: its path relative to ``data_root``."""
    return osp.relpath(image_path, data_root or '.').replace(os.sep, '/')


def read_captions(path: str) -> Dict[str, str]:
    """Read a caption JSON file, checking it maps paths to sentences."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Caption file {path} not found. Write it with `python tools/caption_images.py` '
            '(keys: image paths relative to the data root) or set caption_file.')
    with open(path, encoding='utf-8') as f:
        try:
            captions = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'Caption file {path} is not valid JSON: {err}') from err
    if not isinstance(captions, dict):
        raise ValueError(f'Caption file {path} must hold a JSON object '
                         f'{{image path: caption}}, got a {type(captions).__name__}.')
    bad = [key for key, text in captions.items() if not isinstance(text, str)]
    if bad:
        raise ValueError(f'Caption file {path}: the captions of {bad[:3]} are not strings.')
    return captions


def write_captions(captions: Dict[str, str], path: str) -> None:
    """Write a caption file atomically (a partial file never replaces a good one)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = f'{path}.tmp{os.getpid()}'
    with open(tmp_path, 'w', encoding='utf-8') as f:
        json.dump(dict(sorted(captions.items())), f, ensure_ascii=False, indent=1)
    os.replace(tmp_path, path)


def pair_captions(image_paths: List[str], data_root: str, captions: Dict[str, str],
                  caption_file: str, fallback: Optional[str] = None) -> List[str]:
    """Captions of the two images of a pair, in date order.

    Args:
        image_paths (list[str]): Date-1 and date-2 image paths.
        data_root (str): Root the caption keys are relative to.
        captions (dict[str, str]): Contents of ``caption_file``.
        caption_file (str): Its path, for error messages.
        fallback (str, optional): Sentence used for an image without caption.
            None makes a missing caption an error. Defaults to None.
    """
    texts = []
    for path in image_paths:
        key = caption_key(path, data_root)
        if key in captions:
            texts.append(captions[key])
        elif fallback is not None:
            texts.append(fallback)
        else:
            raise KeyError(
                f'No caption for image {path!r} (key {key!r}) in {caption_file}. Caption it '
                f'with `python tools/caption_images.py` (it resumes and fills in missing '
                f'images), or set the dataset\'s missing_caption to a fallback sentence.')
    return texts
