"""hebbref: the Hebbian Softmax (Rae et al., ICML 2018) in plain NumPy, as a reference to read."""

__version__ = "0.1.0"
