"""validation/curriculum_centring.py: the "rich" regime's classes (validation and test sets
disjoint from each other and from every class used elsewhere) and its choice rule, the late
half of the no-cost criterion (docs/MATH.md §9) first."""
from validation_scripts import load_script


def test_rich_test_classes_share_nothing_with_any_other_class_set():
    module = load_script("curriculum_centring")
    levers = load_script("curriculum_levers")
    valid, test = module.rich_classes()
    used = levers.used_code_points()
    fresh = set().union(*(levers.fresh_code_points(s, used) for s in levers.FRESH_SEEDS))
    taken = used | fresh | set().union(*map(set, valid.values()))
    assert all(len(points) == module.RICH_CLASSES for points in (*valid.values(), *test.values()))
    assert not any(set(points) & fresh for points in valid.values())
    assert not any(set(points) & taken for points in test.values())


def seeds(early, late):
    """Per-seed diffs of one regime, two seeds, the same numbers on both."""
    diff = {"1": early, "2": early, "3-5": early, "6-10": early, "11-20": early,
            "21-50": late, ">50": late}
    return [{"diff": diff}, {"diff": diff}]


def test_the_late_half_comes_before_the_score():
    """No setting meets the whole criterion; the one with no late loss beyond 0.01 is chosen
    over one with a higher score (a larger early lead bought with a late loss); with no setting
    meeting the late half either, the best score wins."""
    module = load_script("curriculum_centring")
    table = {"fast, costly": {"a": seeds(0.5, -0.03)}, "slow, no cost": {"a": seeds(0.1, 0.0)}}
    assert module.choose_late_first(table) == "slow, no cost"
    table["slow, no cost"] = {"a": seeds(0.1, -0.02)}
    assert module.choose_late_first(table) == "fast, costly"
