"""Segmentation data and models for the class-area studies, all offline.

- `shape_images`: generated images, shapes on Gaussian noise: bright disks (class 1) and
  dark squares (class 2) on background (class 0), each image from one seed.
- `SegNet`: a small fully convolutional net (3x3 convolutions with dilations 1, 2, 4 and
  ReLU, then the final 1x1 convolution `final`), initialised from its own generator.
- `load_deeplab`: torchvision's DeepLabV3-ResNet50 with its COCO/VOC weights, only when the
  weights file is already on this machine (never downloaded).
"""

import io
import math
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from suite.errors import SuiteError

CLASSES = ("background", "disk", "square")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def shape_images(n: int, size: int, seed: int, noise: float = 0.5):
    """(images (n, 1, size, size) float32, labels (n, size, size) int64): 2 to 4 shapes per
    image, each a disk (+1, class 1) or a square (-1, class 2), radius 8-20% of the side,
    over N(0, noise) pixels; later shapes cover earlier ones."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, noise, size=(n, size, size))
    labels = np.zeros((n, size, size), dtype=np.int64)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        for _ in range(int(rng.integers(2, 5))):
            kind = int(rng.integers(1, 3))
            r = rng.uniform(0.08, 0.2) * size
            cy, cx = rng.uniform(r, size - r, size=2)
            if kind == 1:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
            images[i][mask] = (1.0 if kind == 1 else -1.0) + rng.normal(0.0, noise, mask.sum())
            labels[i][mask] = kind
    return (torch.as_tensor(images, dtype=torch.float32).unsqueeze(1),
            torch.as_tensor(labels))


class SegNet(nn.Module):
    """Dilated 3x3 convolutions with ReLU, then `final`: a 1x1 convolution to the logits."""

    def __init__(self, n_in: int = 1, width: int = 16, n_classes: int = len(CLASSES),
                 dilations=(1, 2, 4)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = n_in
        for d in dilations:
            layers += [nn.Conv2d(channels, width, 3, padding=d, dilation=d), nn.ReLU()]
            channels = width
        self.body = nn.Sequential(*layers)
        self.final = nn.Conv2d(width, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.body(x))


def init_conv_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default Conv2d init, drawn from `generator` in module order."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(m.weight[0].numel())
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


def state_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


# -- DeepLabV3-ResNet50, from local weights only -------------------------------------------

def deeplab_url() -> str:
    from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights

    return DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1.url


def deeplab_weights_path(given: str = "") -> Path:
    """Where the weights are looked for: `given`, else torch hub's checkpoints folder."""
    if given:
        return Path(given).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(deeplab_url()).path).name


def load_deeplab(given: str = "") -> nn.Module:
    """DeepLabV3-ResNet50 (21 VOC classes) in eval mode, without its auxiliary head."""
    path = deeplab_weights_path(given)
    if not path.is_file():
        raise SuiteError(f"No DeepLabV3-ResNet50 weights at {path}. The suite never downloads: "
                         f"put the file from {deeplab_url()} there (or set deeplab_weights to "
                         "its path), or use model = 'small'.")
    from torchvision.models.segmentation import deeplabv3_resnet50

    model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21,
                               aux_loss=True)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as e:
        raise SuiteError(f"{path} does not hold DeepLabV3-ResNet50 weights ({e}).") from None
    model.aux_classifier = None  # the area uses the main output only
    return model.eval()


def random_deeplab(seed: int) -> nn.Module:
    """DeepLabV3-ResNet50 (21 classes) with random weights, in eval mode, without its
    auxiliary head: torchvision's own initialisation, drawn from a CPU generator seeded
    with `seed` (the global generator is restored afterwards). Nothing is downloaded."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21,
                                   aux_loss=False)
    return model.eval()


def imagenet_normalise(images: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) in [0, 1] -> DeepLab's input scale."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def folder_images(folder: str, size: int) -> torch.Tensor:
    """The .jpg/.png images of `folder` (sorted by name) as (n, 3, size, size) in [0, 1]."""
    from PIL import Image
    from torchvision.transforms.functional import resize

    files = sorted(p for p in Path(folder).expanduser().iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES) if Path(folder).is_dir() else []
    if not files:
        raise SuiteError(f"image_dir {folder} holds no .jpg or .png image.")

    def load(p):
        with Image.open(p) as im:
            hwc = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)
        return resize(hwc.permute(2, 0, 1), [size, size], antialias=True)

    return torch.stack([load(p) for p in files])


def generated_rgb(n: int, size: int, seed: int, noise: float) -> torch.Tensor:
    """Shape images as (n, 3, size, size) in [0, 1], for models that take photographs."""
    images, _ = shape_images(n, size, seed, noise)
    return ((images.clamp(-2, 2) + 2) / 4).repeat(1, 3, 1, 1)
