"""The scikit-learn handwritten digits as an ImageDataset (hebbref/data/images.py, load_digits)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits as sklearn_digits

from hebbref.data.images import load_dataset, train_test_split


def test_digits_are_the_bundled_images_scaled_to_unit_range():
    """Every image is sklearn's 8 × 8 count image divided by 16, with its own label; drawers
    number the examples of each class in order, so the split holds out the first ones."""
    reference = sklearn_digits()
    dataset = load_dataset("digits", num_classes=None, size=8)
    assert dataset.X.shape == (1797, 8, 8) and dataset.X.dtype == np.float32
    np.testing.assert_allclose(dataset.X, reference.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(dataset.y, reference.target)
    for c in range(10):
        assert dataset.drawer[dataset.y == c].tolist() == list(range((reference.target == c).sum()))
    train, test = train_test_split(dataset, 40)
    assert len(test) == 400 and len(train) == 1397


def test_digits_class_choice_and_resizing():
    """A seed chooses the classes (relabelled 0..C−1 in digit order); size resizes by area."""
    dataset = load_dataset("digits", num_classes=3, size=4, seed=1)
    assert dataset.X.shape[1:] == (4, 4) and dataset.num_classes == 3
    digits = [int(name) for name in dataset.class_names]
    assert digits == sorted(digits)
    reference = sklearn_digits()
    assert len(dataset) == np.isin(reference.target, digits).sum()
    with pytest.raises(ValueError, match="num_classes"):
        load_dataset("digits", num_classes=11)
