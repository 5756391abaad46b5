"""hebbref: the Hebbian Softmax (Rae et al., ICML 2018) in plain NumPy, as a reference to read."""
from importlib import metadata

try:  # one source for the version: pyproject.toml, through the installed package's metadata
    __version__ = metadata.version("hebbref")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
