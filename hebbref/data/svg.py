"""SVG path data (the ``d`` attribute) to cubic Bézier segments, and points along them, for
KanjiVG strokes (hebbref.data.kanji). Commands M L H V C S Q T Z, absolute and relative, with
implicit repeats and the SVG grammar's compact numbers ("1.5-2.3", ".5.5", "1e-3"); KanjiVG
never uses arcs (A), so they are refused. Lines and quadratics become their exact cubics
(P1, P2 at a third and two thirds of a line; Q0 + 2/3 (Q1 − Q0), Q2 + 2/3 (Q1 − Q2)), so an
affine warp of the control points is the same warp of the curve.
"""
import re

import numpy as np

# Numbers per repeat of each command (upper case; relative forms share the count).
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "Z": 0}

_TOKEN = re.compile(
    r"(?P<command>[MmLlHhVvCcSsQqTtZzAa])"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<separator>[\s,]+)"
)


def _tokenize(d):
    """Yield (kind, text, position) for every command letter and number in ``d``."""
    position = 0
    while position < len(d):
        match = _TOKEN.match(d, position)
        if match is None:
            raise ValueError(f"path d has an unexpected character {d[position]!r} at position "
                             f"{position}: {d!r}")
        if match.lastgroup != "separator":
            yield match.lastgroup, match.group(), position
        position = match.end()


def _commands(d):
    """Group the tokens of ``d`` into (letter, numbers, position) with the arity checked."""
    commands = []
    for kind, text, position in _tokenize(d):
        if kind == "number":
            if not commands:
                raise ValueError(f"path d must start with a command letter, got number {text!r} "
                                 f"at position {position}: {d!r}")
            commands[-1][1].append(float(text))
        elif text in "Aa":
            raise ValueError(f"path d uses the arc command {text!r} at position {position}, "
                             f"which is not supported: {d!r}")
        else:
            commands.append((text, [], position))
    if not commands:
        raise ValueError(f"path d contains no commands: {d!r}")
    for letter, numbers, position in commands:
        arity = _ARITY[letter.upper()]
        if arity == 0 and numbers:
            raise ValueError(f"path d: command {letter!r} at position {position} takes no "
                             f"numbers, got {len(numbers)}: {d!r}")
        if arity and (not numbers or len(numbers) % arity):
            raise ValueError(f"path d: command {letter!r} at position {position} needs a "
                             f"multiple of {arity} numbers, got {len(numbers)}: {d!r}")
    if commands[0][0] not in "Mm":
        raise ValueError(f"path d must start with a moveto (M or m), got {commands[0][0]!r}: "
                         f"{d!r}")
    return commands


def _line(p0, p3):
    return np.array([p0, p0 + (p3 - p0) / 3.0, p0 + 2.0 * (p3 - p0) / 3.0, p3])


def _quadratic(q0, q1, q2):
    return np.array([q0, q0 + 2.0 * (q1 - q0) / 3.0, q2 + 2.0 * (q1 - q2) / 3.0, q2])


def parse_path(d):
    """Parse an SVG path ``d`` (e.g. "M11,54.25c3.19,0.62,6.25,0.75,9.73,0.5") into one float64
    (K, 4, 2) array of cubic segments per subpath (one starts at each moveto or after a
    closepath; a lone moveto is left out), segment k ending where k + 1 starts. Malformed paths
    raise ValueError naming the problem and its position.
    """
    if not isinstance(d, str):
        raise TypeError(f"d must be a str, got {type(d).__name__}")
    subpaths, segments = [], []
    current = start = np.zeros(2)
    previous_command, previous_control = None, None  # what S and T reflect

    def finish_subpath():
        if segments:
            subpaths.append(np.array(segments))
            segments.clear()

    for letter, numbers, _ in _commands(d):
        command = letter.upper()
        arity = _ARITY[command]
        repeats = [numbers[i:i + arity] for i in range(0, len(numbers), arity)] if arity else [[]]
        for repeat_index, values in enumerate(repeats):
            origin = current if letter.islower() else np.zeros(2)
            if command == "M" and repeat_index == 0:
                finish_subpath()
                current = start = origin + values
            elif command == "Z":  # close back to the subpath start; drawing may continue there
                if not np.array_equal(current, start):
                    segments.append(_line(current, start))
                current = start
                finish_subpath()
            else:
                segment, previous_control = _segment(command, values, current, origin,
                                                     previous_command, previous_control)
                segments.append(segment)
                current = segment[3]
            previous_command = command
    finish_subpath()
    return subpaths


def _segment(command, values, current, origin, previous_command, previous_control):
    """The cubic drawn by one repeat of L, H, V, C, S, Q or T (or a lineto after a moveto):
    ((4, 2) control points, the control point a following S or T reflects). origin: the pen for
    a relative command, else (0, 0); previous_*: the command before and its last control point."""
    if command in "ML":  # pairs after a moveto are implicit linetos
        return _line(current, origin + values), None
    if command == "H":
        return _line(current, np.array([values[0] + origin[0], current[1]])), None
    if command == "V":
        return _line(current, np.array([current[0], values[0] + origin[1]])), None
    if command == "C":
        control1, control2, end = origin + values[0:2], origin + values[2:4], origin + values[4:6]
        return np.array([current, control1, control2, end]), control2
    if command == "S":  # control1 reflects the previous cubic's control2 (no cubic: current)
        control1 = (2.0 * current - previous_control if previous_command in ("C", "S")
                    else current)
        control2, end = origin + values[0:2], origin + values[2:4]
        return np.array([current, control1, control2, end]), control2
    if command == "Q":
        control, end = origin + values[0:2], origin + values[2:4]
    else:  # T: the previous quadratic's control reflected (no quadratic: current)
        control = 2.0 * current - previous_control if previous_command in ("Q", "T") else current
        end = origin + values
    return _quadratic(current, control, end), control


def bezier_points(segments, points_per_segment):
    """Points at t = 0, 1/(n−1), ..., 1 on cubics: (..., 4, 2) -> (..., n, 2) (no checks)."""
    t = np.linspace(0.0, 1.0, points_per_segment, dtype=segments.dtype)[:, None]
    s = 1.0 - t
    bernstein = np.hstack([s**3, 3.0 * t * s**2, 3.0 * t**2 * s, t**3])  # (n, 4)
    return np.einsum("nj,...jc->...nc", bernstein, segments)
