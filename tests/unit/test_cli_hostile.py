"""Hostile `statclock clock` and `holidays` options: exit 2, one line naming option and value.

In process through ``statutory_clock.cli.main`` (fast), and a handful through the installed
script in a subprocess, as other tools call it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.cli import main

STATCLOCK = shutil.which("statclock", path=str(Path(sys.executable).parent))
BASE = ["clock", "--framework", "ilacs", "--published", "2019-09-04"]
DATE_OPTIONS = ["--published", "--received", "--direction", "--as-of"]
BAD_DATES = [
    "0001-01-01",
    "1989-12-31",
    "2101-01-01",
    "9999-12-31",
    "2019-02-30",
    "2019-09-04\n",
    "2019-09-04\x00",
    "２０１９-09-04",
    "2019-09-04T00:00",
    "",
    "x" * 100_000,
]


def call(argv: list[str]) -> tuple[int, str, str]:
    """Run the command in process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def assert_refused(argv: list[str], *names: str) -> str:
    code, out, err = call(argv)
    assert code == 2, (argv, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    line = err.rstrip("\n")
    assert line.isprintable(), f"the message carries raw control characters: {line!r}"
    assert "Traceback" not in err and len(line) < 400
    for name in names:
        assert name in line, (name, line)
    return line


def shows(value: str) -> str:
    """What of ``value`` a message must show: its start, escaped as repr() escapes it."""
    return repr(value)[1:-1][:8]


def put(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with an option's value replaced, or the option added."""
    argv = list(argv)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    return argv


def _cases() -> list[tuple[str, list[str], list[str]]]:
    cases: list[tuple[str, list[str], list[str]]] = []
    for option in DATE_OPTIONS:
        for value in BAD_DATES:
            argv = put(BASE, option, value)
            cases.append((f"{option}={value[:12]!r}", argv, [option, shows(value)]))
    for value in BAD_DATES:
        argv = [*BASE, "--event", f"publish_report={value}"]
        cases.append((f"--event={value[:12]!r}", argv, ["--event", shows(value)]))
    for milestone in [
        "publish\nreport",
        "publish_report\u202e",
        "Publish_Report",
        "x" * 101,
        "\x1b[2J",
        "",
    ]:
        cases.append(
            (
                f"--event-id={milestone[:12]!r}",
                [*BASE, "--event", f"{milestone}=2019-10-01"],
                ["--event", shows(milestone)],
            )
        )
    for number in ["0", "-1", "1000", str(10**30), "9" * 5000, "1.5", "١", "", "x"]:
        cases.append(
            (
                f"--recommendation={number[:12]}",
                [*BASE, "--recommendation", f"{number}=Within three months"],
                ["--recommendation", shows(number)],
            )
        )
    for timescale in ["Within\r\nthree months", "x" * 51, "\u202eWithin three months", "a\x00"]:
        cases.append(
            (
                f"--recommendation-timescale={timescale[:12]!r}",
                [*BASE, "--recommendation", f"1={timescale}"],
                ["--recommendation", shows(timescale)],
            )
        )
    for option, value in [
        ("--framework", "ilacs\n"),
        ("--framework", "ilacs\x00"),
        ("--framework", "\u202eilacs"),
        ("--judgement", "inadequate\r\n"),
        ("--format", "json\x1b[2J"),
        ("--rounding", "x" * 10_000),
    ]:
        argv = put(BASE, option, value)
        cases.append((f"{option}={value[:12]!r}", argv, [option, shows(value)]))
    for year in ["99999", "0", "-1", "9" * 5000, "2022\n", "MMXXII"]:
        cases.append((f"holidays={year[:12]!r}", ["holidays", year], ["year", shows(year)]))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("argv", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_clock_options_are_refused_in_one_line(argv, names):
    assert_refused(argv, *names)


def test_the_base_command_works_so_each_case_tests_one_option():
    code, out, _ = call([*BASE, "--format", "json"])
    assert code == 0 and '"anchor"' in out
    code, _, _ = call([*BASE, "--as-of", "2100-12-31", "--direction", "2100-12-31"])
    assert code == 0, "the last accepted day must work end to end"


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([*BASE, "--as-of", "0001-01-01"], ["--as-of", "'0001-01-01'"]),
        ([*BASE, "--received", "9999-12-31"], ["--received", "'9999-12-31'"]),
        ([*BASE, "--recommendation", f"{10**30}=Within three months"], ["--recommendation"]),
        ([*BASE, "--event", "publish_report=2019-09-04\x1b[2J"], ["--event"]),
    ],
)
def test_through_the_installed_script(argv, names):
    assert STATCLOCK
    result = subprocess.run([STATCLOCK, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for name in names:
        assert name in lines[0]


@settings(max_examples=150, deadline=None)
@given(
    option=st.sampled_from([*DATE_OPTIONS, "--event", "--recommendation", "--judgement"]),
    value=st.text(st.characters(codec=None), max_size=30)
    | st.dates().map(lambda d: d.isoformat())
    | st.integers().map(str),
)
def test_any_option_value_gives_a_clock_or_one_clean_line(option, value):
    if option == "--event":
        value = f"publish_report={value}"
    elif option == "--recommendation":
        value = f"{value}=Within three months"
    code, out, err = call(put(BASE, option, value))
    if code == 0:
        # A clock, and at most plausibility warnings (a bank-holiday publication...), each one
        # clean line.
        assert out
        for line in err.splitlines():
            assert line.startswith("statclock clock: warning: ") and line.isprintable(), err
    else:
        assert code == 2 and out == "", err
        assert err.count("\n") == 1 and err.rstrip("\n").isprintable(), repr(err)


HOSTILE_COUNT = len(CASES) + 4  # and four through the installed script
