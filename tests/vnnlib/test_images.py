"""The MNIST images that the VNN-COMP robustness properties are centred on (issue 13's Task 1
data): recovered exactly from the clipped boxes, one per image, classified as the property says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surrogate.errors import InputError
from surrogate.network.onnx_io import read_onnx
from surrogate.vnnlib import read_vnnlib
from surrogate.vnnlib.images import image_of_box, property_images


def test_the_image_of_a_clipped_box_is_the_image_it_was_made_from() -> None:
    x = np.array([0.0, 0.01, 0.5, 0.99, 1.0])
    e = 0.03
    lower, upper = np.maximum(x - e, 0.0), np.minimum(x + e, 1.0)
    np.testing.assert_allclose(image_of_box(lower, upper), x, atol=1e-15)
    assert not np.allclose((lower + upper) / 2, x)  # the centre is not the image
    with pytest.raises(InputError, match="not an L-inf ball around an image"):
        image_of_box(np.array([-0.5, 0.0]), np.array([0.5, 0.1]))


@pytest.mark.parametrize(("folder", "net", "count"), [
    ("mnist_fc/vnnlib_2022", "mnist_fc/onnx/mnist-net_256x2.onnx", 15),
    ("mnist_fc/vnnlib_2021", "mnist_fc/onnx/mnist-net_256x2.onnx", 15),
    ("eran_mnist_relu_9_200/vnnlib", "eran_mnist_relu_9_200/onnx/mnist_relu_9_200.onnx", 36),
])
def test_the_vnncomp_mnist_properties_give_distinct_correctly_classified_images(
    vnncomp: Path, folder: str, net: str, count: int,
) -> None:
    images = property_images(vnncomp / folder)
    assert len(images) == count
    network = read_onnx(vnncomp / net)
    xs = np.array([x for _, x in images])
    assert xs.shape == (count, 784) and xs.min() >= 0.0 and xs.max() <= 1.0
    # distinct images (not the same image at two radii)
    gaps = [np.max(np.abs(xs[i] - xs[j])) for i in range(count) for j in range(i)]
    assert min(gaps) > 0.1
    for name, x in images:
        prop = read_vnnlib(vnncomp / folder / name)
        box = prop.cases[0].box
        e = float(np.max(box.upper - box.lower)) / 2
        # the box is exactly the clipped ball around the recovered image (float32 file values)
        np.testing.assert_allclose(box.lower, np.maximum(x - e, 0.0), atol=1e-6)
        np.testing.assert_allclose(box.upper, np.minimum(x + e, 1.0), atol=1e-6)
        # the property protects the class the network gives the image: the output every unsafe
        # row "y_j >= y_label" counts positively
        rows = np.vstack([u.C for u in prop.cases[0].unsafe])
        protected = np.flatnonzero(np.all(rows > 0, axis=0))
        assert protected.size == 1
        assert int(np.argmax(network.forward(x))) == int(protected[0])
