"""The package's main API (hebbref/__init__.py): every listed name is the object it names, and
`import hebbref` alone loads none of the heavy modules."""
import subprocess
import sys

import pytest

import hebbref
from hebbref import hebbian
from hebbref.experiments import curriculum, lm


def test_api_names_are_the_real_objects():
    assert hebbref.HebbianSoftmax is hebbian.HebbianSoftmax
    assert hebbref.hebbian_update is hebbian.hebbian_update
    assert hebbref.hebbian_update_reference is hebbian.hebbian_update_reference
    assert hebbref.CurriculumConfig is curriculum.CurriculumConfig
    assert hebbref.run_curriculum is curriculum.run
    assert hebbref.LMConfig is lm.LMConfig
    assert hebbref.run_lm is lm.run
    assert set(hebbref.__all__) <= set(dir(hebbref))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        hebbref.no_such_thing


def test_import_hebbref_loads_no_heavy_module():
    code = ("import sys, hebbref; print(sorted(m for m in ('numba', 'matplotlib', 'numpy') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
