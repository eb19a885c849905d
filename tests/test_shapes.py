"""Generated segmentation images, the small net's seeded init, DeepLab's inputs."""

import pytest
import torch

from suite.errors import SuiteError
from suite.training.shapes import (
    SegNet,
    folder_images,
    generated_rgb,
    imagenet_normalise,
    init_conv_,
    shape_images,
)


def test_shape_images_are_seeded_and_labelled_by_intensity():
    x, y = shape_images(6, 24, seed=5, noise=0.0)
    x2, y2 = shape_images(6, 24, seed=5, noise=0.0)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (6, 1, 24, 24) and y.shape == (6, 24, 24) and y.dtype == torch.int64
    # without noise: disks are +1, squares -1, background 0
    assert torch.equal(x[:, 0][y == 1], torch.ones(int((y == 1).sum())))
    assert torch.equal(x[:, 0][y == 2], -torch.ones(int((y == 2).sum())))
    assert bool((x[:, 0][y == 0] == 0).all())
    assert set(y.unique().tolist()) == {0, 1, 2}
    assert not torch.equal(shape_images(6, 24, seed=6)[1], y)


def test_segnet_keeps_the_image_size_and_its_init_depends_on_the_generator_only():
    a = init_conv_(SegNet(width=4), torch.Generator().manual_seed(1))
    b = init_conv_(SegNet(width=4), torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a(torch.zeros(2, 1, 17, 23)).shape == (2, 3, 17, 23)
    assert a.final.kernel_size == (1, 1)


def test_deeplab_inputs():
    rgb = generated_rgb(2, 16, seed=1, noise=0.5)
    assert rgb.shape == (2, 3, 16, 16) and rgb.min() >= 0 and rgb.max() <= 1
    white = imagenet_normalise(torch.ones(1, 3, 2, 2))
    assert white[0, :, 0, 0].tolist() == pytest.approx([(1 - 0.485) / 0.229,
                                                       (1 - 0.456) / 0.224,
                                                       (1 - 0.406) / 0.225])


def test_image_folder(tmp_path):
    from PIL import Image

    with pytest.raises(SuiteError, match="no .jpg or .png"):
        folder_images(str(tmp_path), 8)
    Image.new("RGB", (7, 5), (255, 255, 255)).save(tmp_path / "a.png")
    images = folder_images(str(tmp_path), 8)
    assert images.shape == (1, 3, 8, 8) and torch.allclose(images, torch.ones(1, 3, 8, 8))
