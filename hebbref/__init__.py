"""hebbref: the Hebbian Softmax (Rae et al., ICML 2018) in plain NumPy, as a reference to read.

The main API, importable from here:

    HebbianSoftmax                    the rule's state (γ, T, counts)     hebbref.hebbian
    hebbian_update                    docs/MATH.md §5, fast path         hebbref.hebbian
    hebbian_update_reference          docs/MATH.md §5, the plain loop    hebbref.hebbian
    CurriculumConfig, run_curriculum  reproduction 1, docs/MATH.md §9    experiments.curriculum
    LMConfig, run_lm                  reproduction 2, docs/MATH.md §10   experiments.lm

Each name is imported on first use, so `import hebbref` stays cheap: the experiments pull in
their data loaders and matplotlib, and the fast path numba, which take most of a second to load.
"""
import importlib
import importlib.metadata

try:  # one source for the version: pyproject.toml, through the installed package's metadata
    __version__ = importlib.metadata.version("hebbref")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

# public name -> (module, name in that module)
_API = {
    "HebbianSoftmax": ("hebbref.hebbian", "HebbianSoftmax"),
    "hebbian_update": ("hebbref.hebbian", "hebbian_update"),
    "hebbian_update_reference": ("hebbref.hebbian", "hebbian_update_reference"),
    "CurriculumConfig": ("hebbref.experiments.curriculum", "CurriculumConfig"),
    "run_curriculum": ("hebbref.experiments.curriculum", "run"),
    "LMConfig": ("hebbref.experiments.lm", "LMConfig"),
    "run_lm": ("hebbref.experiments.lm", "run"),
}
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'hebbref' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(module), attribute)


def __dir__():
    return sorted([*globals(), *_API])
