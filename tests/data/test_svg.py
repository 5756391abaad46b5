"""SVG path parsing and points on Bézier segments (hebbref/data/svg.py), checked against
hand-worked points and an independent de Casteljau evaluation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hebbref.data.svg import bezier_points, parse_path


def endpoints(subpath):
    """The on-curve points of a subpath: its start, then every segment's end."""
    return np.vstack([subpath[:1, 0], subpath[:, 3]])


def de_casteljau(control, t):
    """Point at t on the Bézier curve with these control points, by repeated interpolation."""
    points = np.asarray(control, dtype=float)
    while len(points) > 1:
        points = (1 - t) * points[:-1] + t * points[1:]
    return points[0]


def test_lines_absolute_and_relative_reach_the_same_points():
    absolute = parse_path("M10,20 L30,20 H50 V60 L10,60")
    relative = parse_path("m10,20 l20,0 h20 v40 l-40,0")
    expected = [[10, 20], [30, 20], [50, 20], [50, 60], [10, 60]]
    for subpaths in (absolute, relative):
        assert len(subpaths) == 1
        np.testing.assert_allclose(endpoints(subpaths[0]), expected)


def test_a_line_becomes_the_cubic_with_controls_at_thirds():
    (segments,) = parse_path("M0,0 L30,-6")
    np.testing.assert_allclose(segments[0], [[0, 0], [10, -2], [20, -4], [30, -6]])


def test_kanjivg_stroke_reaches_hand_summed_points():
    # First stroke of 一 (U+4E00) in KanjiVG: three relative cubics after an absolute moveto.
    d = ("M11,54.25c3.19,0.62,6.25,0.75,9.73,0.5c20.64-1.5,50.39-5.12,68.58-5.24"
         "c3.6-0.02,5.77,0.24,7.57,0.49")
    (segments,) = parse_path(d)
    # 11 + 9.73 = 20.73, 54.25 + 0.5 = 54.75; + (68.58, -5.24) = (89.31, 49.51); + (7.57, 0.49)
    np.testing.assert_allclose(endpoints(segments),
                               [[11, 54.25], [20.73, 54.75], [89.31, 49.51], [96.88, 50.0]])
    # Control points of a relative cubic are relative to the segment's start, not the previous
    # control point: 20.73 + 20.64 = 41.37, 54.75 - 1.5 = 53.25.
    np.testing.assert_allclose(segments[1, 1], [41.37, 53.25])


def test_smooth_cubic_reflects_the_previous_second_control_point():
    absolute = parse_path("M0,0 C1,2 3,2 4,0 S7,-2 8,0")
    relative = parse_path("M0,0 c1,2 3,2 4,0 s3,-2 4,0")
    for (segments,) in (absolute, relative):
        # Reflection of (3, 2) about the current point (4, 0) is (5, -2).
        np.testing.assert_allclose(segments[1], [[4, 0], [5, -2], [7, -2], [8, 0]])


def test_smooth_cubic_after_a_line_uses_the_current_point():
    (segments,) = parse_path("M0,0 L4,0 S7,-2 8,0")
    np.testing.assert_allclose(segments[1], [[4, 0], [4, 0], [7, -2], [8, 0]])


def test_quadratic_and_smooth_quadratic_trace_the_quadratic_curve():
    (segments,) = parse_path("M0,0 Q3,3 6,0 T12,0")
    # T reflects (3, 3) about (6, 0): control (9, -3).
    for segment, quadratic in zip(segments, ([[0, 0], [3, 3], [6, 0]],
                                             [[6, 0], [9, -3], [12, 0]])):
        for t in np.linspace(0, 1, 7):
            np.testing.assert_allclose(de_casteljau(segment, t), de_casteljau(quadratic, t),
                                       atol=1e-12)
    (relative,) = parse_path("m0,0 q3,3 6,0 t6,0")
    np.testing.assert_allclose(relative, segments)


def test_implicit_repeats_continue_from_the_previous_end():
    (lines,) = parse_path("M0 0 1 1 2 0")  # pairs after a moveto are linetos
    np.testing.assert_allclose(endpoints(lines), [[0, 0], [1, 1], [2, 0]])
    (cubics,) = parse_path("m1,1 c1,0 2,0 3,0 1,1 2,1 3,0")
    np.testing.assert_allclose(cubics[1], [[4, 1], [5, 2], [6, 2], [7, 1]])
    (relative_lines,) = parse_path("m1,1 2,0 0,2")  # relative pairs after m are relative
    np.testing.assert_allclose(endpoints(relative_lines), [[1, 1], [3, 1], [3, 3]])


def test_compact_number_syntax():
    (segments,) = parse_path("M.5.5L1.5-2.3l1e1,-1E-1h-.25-.25")
    np.testing.assert_allclose(endpoints(segments),
                               [[0.5, 0.5], [1.5, -2.3], [11.5, -2.4], [11.25, -2.4],
                                [11.0, -2.4]])


def test_closepath_and_new_subpaths():
    subpaths = parse_path("M0,0 L2,0 L2,2 Z L0,4 M10,10 M20,20 l1,0")
    assert len(subpaths) == 3  # the lone "M10,10" draws nothing and is left out
    np.testing.assert_allclose(endpoints(subpaths[0]), [[0, 0], [2, 0], [2, 2], [0, 0]])
    np.testing.assert_allclose(endpoints(subpaths[1]), [[0, 0], [0, 4]])  # from the start
    np.testing.assert_allclose(endpoints(subpaths[2]), [[20, 20], [21, 20]])


@pytest.mark.parametrize("d, message", [
    ("", "no commands"),
    ("   ,", "no commands"),
    ("L1,2", "must start with a moveto"),
    ("3 4", "must start with a command letter"),
    ("M1", "multiple of 2 numbers, got 1"),
    ("M0,0 C1,2 3,4", "'C' at position 5 needs a multiple of 6"),
    ("M0,0 Z 3", "takes no numbers"),
    ("M0,0 A5,5 0 0 1 9,9", "arc command"),
    ("M0,0 L1;2", "unexpected character ';' at position 7"),
    ("M0,0 L1,2 e5", "unexpected character 'e'"),
])
def test_malformed_paths_name_the_problem(d, message):
    with pytest.raises(ValueError, match=message):
        parse_path(d)


def test_parse_path_rejects_non_strings():
    with pytest.raises(TypeError, match="d must be a str"):
        parse_path(b"M0,0 L1,1")


cubic_segments = st.integers(1, 4).flatmap(lambda k: hnp.arrays(
    np.float64, (k, 4, 2), elements=st.floats(-100, 100, allow_nan=False)))


@settings(max_examples=40, deadline=None)
@given(cubic_segments, st.integers(2, 9))
def test_bezier_points_lie_on_the_curve_with_exact_end_points(segments, n):
    """The points are the Bernstein form at t = i/(n-1); they must match de Casteljau's
    construction and hit each segment's end points exactly."""
    points = bezier_points(segments, n)
    assert points.shape == (len(segments), n, 2)
    for segment, on_curve in zip(segments, points):
        assert np.array_equal(on_curve[0], segment[0])
        assert np.array_equal(on_curve[-1], segment[3])
        for i, t in enumerate(np.linspace(0, 1, n)):
            np.testing.assert_allclose(on_curve[i], de_casteljau(segment, t), rtol=1e-12,
                                       atol=1e-10)


def test_points_on_a_line_are_evenly_spaced():
    (segments,) = parse_path("M0,0 L9,3")
    np.testing.assert_allclose(bezier_points(segments, 4), [[[0, 0], [3, 1], [6, 2], [9, 3]]])
