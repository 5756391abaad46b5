"""The labelled image set that every character-image source returns (hebbref.data.images,
hebbref.data.kanji); its checks run on construction."""
import dataclasses

import numpy as np

from hebbref.checks import check_array, check_labels


@dataclasses.dataclass
class ImageDataset:
    """Labelled grey images.
    X: (n, h, w) float32 in [0, 1], strokes bright.
    y: (n,) int64 class labels in [0, C), every class present.
    drawer: (n,) int64 >= 0, who drew the example; (y, drawer) pairs are unique.
    class_names: list of C str, unique; class_names[i] names label i."""
    X: np.ndarray
    y: np.ndarray
    drawer: np.ndarray
    class_names: list

    def __post_init__(self):
        check_array(self.X, "X", ndim=3)
        if self.X.dtype != np.float32:
            raise TypeError(f"X must be float32, got dtype {self.X.dtype}")
        if self.X.size and (self.X.min() < 0.0 or self.X.max() > 1.0):
            raise ValueError(f"X must lie in [0, 1], got values in "
                             f"[{self.X.min()}, {self.X.max()}]")
        if not isinstance(self.class_names, list) or not all(
                isinstance(name, str) for name in self.class_names):
            raise TypeError("class_names must be a list of str")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names must be unique")
        n = self.X.shape[0]
        self.y = check_labels(self.y, "y", len(self.class_names), shape=(n,))
        check_array(self.drawer, "drawer", shape=(n,), dtype_kind="i")
        if n and self.drawer.min() < 0:
            raise ValueError(f"drawer must be >= 0, got {self.drawer.min()}")
        self.drawer = self.drawer.astype(np.int64, copy=False)
        absent = np.flatnonzero(np.bincount(self.y, minlength=self.num_classes) == 0)
        if absent.size:
            raise ValueError(f"every class needs at least one example; class "
                             f"{self.class_names[absent[0]]!r} (label {absent[0]}) has none")
        if np.unique(np.stack([self.y, self.drawer]), axis=1).shape[1] != n:
            raise ValueError("(y, drawer) pairs must be unique: one example per drawer and class")

    @property
    def num_classes(self):
        return len(self.class_names)

    def __len__(self):
        return self.X.shape[0]

    def subset(self, mask):
        """The examples where ``mask`` (n,) bool is True, in their order, with all class names."""
        return ImageDataset(X=self.X[mask], y=self.y[mask], drawer=self.drawer[mask],
                            class_names=list(self.class_names))
