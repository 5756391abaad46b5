"""validation/curriculum_levers.py's fresh KanjiVG split (docs/MATH.md §9): classes no choice has
seen."""
import numpy as np

from validation_scripts import load_script


def test_fresh_kanji_classes_are_disjoint_from_every_used_class():
    """validation/curriculum_levers.py's fresh split: the classes of a fresh seed share nothing
    with the classes of USED_SEEDS, and they are the first kanji of that seed's order that are
    not used (every kanji skipped before the last one chosen is a used one)."""
    from hebbref.data import kanji

    module = load_script("curriculum_levers")
    used = module.used_code_points(num_classes=20)
    assert len(used) > 20
    fresh = module.fresh_code_points(module.FRESH_SEEDS[0], used, num_classes=20)
    assert len(fresh) == 20 and not used & set(fresh)
    candidates = kanji.available_kanji()
    order = [candidates[i] for i in
             np.random.default_rng([module.FRESH_SEEDS[0], 0]).permutation(len(candidates))]
    last = max(order.index(c) for c in fresh)
    assert set(order[:last + 1]) - set(fresh) <= used
