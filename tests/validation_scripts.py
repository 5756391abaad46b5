"""Import a script of validation/ by path (validation/ is a folder of scripts, not a package)."""
import importlib.util
import os

VALIDATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "validation")


def load_script(name):
    """validation/<name>.py as a fresh module named validation_<name>."""
    spec = importlib.util.spec_from_file_location(f"validation_{name}",
                                                  os.path.join(VALIDATION, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
