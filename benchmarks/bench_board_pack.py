"""Benchmark: board packs, one council and the whole synthetic portfolio.

    .venv/bin/python benchmarks/bench_board_pack.py [--councils 153] [--workers 2]
    .venv/bin/python benchmarks/bench_board_pack.py --breakdown

1. One council's pack (Croydon 2017 from the demo register): snapshot, HTML, PDF and archive,
   timed after a warm-up (target: under 5 s including the PDF); and the golden snapshot the
   tests render (tests/fixtures/board_pack/, Tower Hamlets 2017, made by
   scripts/regenerate_pack_fixture.py) rendered to HTML and PDF, with its Python calls, which
   do not drift with the machine or with the demo case files.
2. One pack for each of the 153 councils of benchmarks/bench_register.py's portfolio (their
   latest inspection, 60 actions each), made by ``--workers`` processes as the DAG's mapped
   tasks would be (target: under 3 minutes on this machine's 2 cores).
Peak memory is the largest resident set of any one process (max RSS).

This machine's speed drifts by up to a factor of two between spells (a shared virtual
machine), so the run also prints what one synthetic pack takes in work that does not drift:
Python calls, and CPU instructions counted by Linux `perf` where it is installed (a mix of one
council of each judgement, so inadequate councils' longer timelines count in their share). It
also prints the CPU seconds the workers used and a fixed pure-Python loop timed before and
after the portfolio ("speed check"): compare versions of the code by work, not wall time alone.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
GOLDEN = REPO / "tests" / "fixtures" / "board_pack" / "tower-hamlets-2017-november-2017.json"

AS_OF = date(2024, 6, 7)


def _portfolio_job(key: str) -> Any:
    """The pack every synthetic council gets: May 2024, made on AS_OF."""
    from statutory_clock.board_pack.assemble import PackJob

    return PackJob(key, date(2024, 5, 1), date(2024, 5, 31), "May 2024", None)


def _portfolio_snapshot(session: Any, key: str) -> Any:
    """The snapshot of a synthetic council's first pack, made at 09:00 on AS_OF."""
    from statutory_clock.board_pack.assemble import build_snapshot

    made_at = datetime(2024, 6, 7, 9, tzinfo=UTC)
    return build_snapshot(session, _portfolio_job(key), AS_OF, 1, made_at)


def _make(args: tuple[str, str, str]) -> float:
    url, key, packs = args
    from statutory_clock.board_pack.assemble import make_pack
    from statutory_clock.store.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    make_pack(
        engine,
        _portfolio_job(key),
        AS_OF,
        Path(packs),
        "benchmark",
        "pm@example.org",
    )
    engine.dispose()
    return time.perf_counter() - started


def _golden() -> None:
    """Render the tests' golden snapshot: best of 3 after a warm-up, and its Python calls."""
    import cProfile
    import pstats

    from statutory_clock.board_pack import Snapshot, render_pack

    snapshot = Snapshot.from_json(GOLDEN.read_text(encoding="utf-8"))
    render_pack(snapshot)  # warm: imports, font caches
    times = []
    for _ in range(3):
        started = time.perf_counter()
        render_pack(snapshot)
        times.append(time.perf_counter() - started)
    profile = cProfile.Profile()
    profile.runcall(render_pack, snapshot)
    calls = int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]
    print(
        f"golden snapshot (Tower Hamlets 2017, {GOLDEN.name}): HTML and PDF {min(times):.2f} s "
        f"best of 3; {calls:,} Python calls",
        flush=True,
    )


def _calls_per_pack(engine: Any, key: str) -> int:
    """Python function calls to render one synthetic council's pack (HTML, charts and PDF).

    Unlike seconds, this does not drift with the machine, so it compares versions of the code.
    """
    import cProfile
    import pstats

    from statutory_clock.board_pack import render_pack
    from statutory_clock.store.db import transaction

    with transaction(engine) as session:
        snapshot = _portfolio_snapshot(session, key)
    render_pack(snapshot)  # warm: imports, font caches
    profile = cProfile.Profile()
    profile.runcall(render_pack, snapshot)
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


# `--breakdown`: the parts of an inadequate council's pack, each counted on its own. The PDF
# parts render the printable HTML with one piece cut out, so their difference is that piece.
_PARTS = ("pack", "charts", "pdf", "pdf without action table", "pdf without charts")


def _work(rounds: int, part: str) -> None:
    """`--work N [--part P]`: do one part of the work (by default whole packs for one synthetic
    council of each judgement), once to warm up and then N more times; run under `perf stat`
    by `_instructions`."""
    import re

    from bench_register import synthetic_portfolio

    from statutory_clock.board_pack import charts, render, render_pack
    from statutory_clock.store import db, register
    from statutory_clock.store.case_document import CaseDocument

    docs = [d for d in synthetic_portfolio(12) if d["key"].endswith("-2")]
    mix = {d["inspection"]["judgements"]["overall"]: d for d in docs}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'work.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.transaction(engine) as session:
            for doc in mix.values():
                register.import_case(session, CaseDocument.from_dict(doc), "benchmark", AS_OF)
            snapshots = [_portfolio_snapshot(session, doc["key"]) for doc in mix.values()]
            inadequate = _portfolio_snapshot(session, mix["inadequate"]["key"])
        engine.dispose()
    if part == "pack":
        for _ in range(1 + rounds):
            for snapshot in snapshots:
                render_pack(snapshot)
        return
    if part == "charts":
        for _ in range(1 + rounds):
            charts.timeline_svg(inadequate)
            charts.rag_chart_svg(inadequate)
        return
    import weasyprint  # type: ignore[import-untyped]

    printable = render._SPACE_BETWEEN_TABLE_TAGS.sub(
        r"\1", render._render_template(render.build_context(inadequate), False, False)
    )
    if part == "pdf without action table":
        printable = re.sub(r'<div class="action-table">.*?</div>', "", printable, flags=re.S)
    elif part == "pdf without charts":
        printable = re.sub(r'<img class="chart-image"[^>]*>', "", printable)
    setup = render._print_setup()
    for _ in range(1 + rounds):
        document = weasyprint.HTML(string=printable)
        document.write_pdf(stylesheets=[setup.stylesheet], font_config=setup.fonts)


def _instructions(part: str, rounds: int = 2) -> float | None:
    """CPU instructions `rounds` repetitions of a part of the work take, counted by `perf`.

    `perf` counts the whole process, so the imports and set-up, the same in both runs, cancel
    out of the difference between `rounds` and none. None where perf is missing or not allowed.
    """
    if not shutil.which("perf"):
        return None
    perf = ["perf", "stat", "-x,", "-e", "instructions", "--"]
    counts = []
    for repeat in (0, rounds):
        run = subprocess.run(
            [*perf, sys.executable, __file__, "--work", str(repeat), "--part", part],
            capture_output=True,
            text=True,
        )
        fields = [line.split(",") for line in run.stderr.splitlines()]
        # "<not supported>" where the machine gives no hardware counters (many VMs).
        found = [
            int(f[0])
            for f in fields
            if len(f) > 2 and f[2].startswith("instructions") and f[0].isdigit()
        ]
        if run.returncode or not found:
            return None
        counts.append(found[0])
    return (counts[1] - counts[0]) / rounds


def _instructions_per_pack() -> tuple[float, int] | None:
    """CPU instructions per pack (HTML, charts and PDF) over `_work`'s mix of judgements."""
    rounds = _instructions("pack")
    return None if rounds is None else (rounds / 3, 2 * 3)


def _print_instructions_per_pack() -> None:
    counted = _instructions_per_pack()
    if counted:
        per_pack, packs = counted
        print(
            f"work per synthetic pack: {per_pack / 1e9:.2f} billion CPU instructions "
            f"(perf stat, mean of {packs} packs: inadequate, requires improvement, good)"
        )
    else:
        print("CPU instructions per pack: not counted (Linux perf is not available here)")


def _breakdown() -> None:
    """Where an inadequate council's pack (the longest kind) goes, in CPU instructions."""
    counted = {part: _instructions(part) for part in _PARTS}
    if any(v is None for v in counted.values()):
        print("breakdown: not counted (Linux perf is not available here)")
        return
    c = {part: float(v or 0) for part, v in counted.items()}
    pack = c["pdf"] + c["charts"]
    shares = {
        "action plan table (WeasyPrint)": c["pdf"] - c["pdf without action table"],
        "charts drawn in the PDF (WeasyPrint)": c["pdf"] - c["pdf without charts"],
        "charts made (matplotlib)": c["charts"],
    }
    print(f"an inadequate council's pack: {pack / 1e9:.2f} billion instructions, of which")
    for name, value in shares.items():
        print(f"  {name}: {value / 1e9:.2f} billion ({value / pack:.0%})")


def _speed_check() -> float:
    """Seconds for a fixed pure-Python loop: larger means the machine is slower right now."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i * i
    return time.perf_counter() - started


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--councils", type=int, default=153)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="only count the CPU instructions per pack (perf); with PYTHONPATH=<checkout>/include"
        " it counts another version of the code",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="only count where an inadequate council's pack goes (CPU instructions, perf)",
    )
    parser.add_argument("--work", type=int, help=argparse.SUPPRESS)  # see _work
    parser.add_argument("--part", choices=_PARTS, default="pack", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work is not None:
        _work(args.work, args.part)
        return
    if args.breakdown:
        _breakdown()
        return
    if args.instructions:
        _print_instructions_per_pack()
        return
    from bench_register import synthetic_portfolio

    from statutory_clock.board_pack.assemble import PackJob, make_pack
    from statutory_clock.store import db, register
    from statutory_clock.store.case_document import CaseDocument
    from statutory_clock.store.casefile import load_case_file

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.transaction(engine) as session:
            for path in sorted((REPO / "include" / "demo").glob("*.yaml")):
                register.import_case(session, load_case_file(path), "benchmark", date(2017, 12, 7))
        job = PackJob("croydon-2017", date(2017, 11, 1), date(2017, 11, 30), "November 2017", None)
        make_pack(engine, job, date(2017, 12, 7), Path(tmp) / "warm", "benchmark", "pm@x.org")
        times = []
        for i in range(3):
            started = time.perf_counter()
            make_pack(
                engine, job, date(2017, 12, 7), Path(tmp) / f"one{i}", "benchmark", "pm@x.org"
            )
            times.append(time.perf_counter() - started)
        print(
            f"one council (Croydon 2017): {min(times):.2f} s best, "
            f"{sorted(times)[1]:.2f} s median of 3, including the PDF; target < 5 s",
            flush=True,
        )
        _golden()

        docs = [d for d in synthetic_portfolio(args.councils) if d["key"].endswith("-2")]
        with db.transaction(engine) as session:
            for doc in docs:
                register.import_case(session, CaseDocument.from_dict(doc), "benchmark", AS_OF)
        engine.dispose()
        print(f"work per synthetic pack: {_calls_per_pack(engine, docs[0]['key']):,} Python calls")
        _print_instructions_per_pack()
        work = [(url, d["key"], str(Path(tmp) / "portfolio")) for d in docs]
        speed_before = _speed_check()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            each = list(pool.map(_make, work))
        elapsed = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        speed_after = _speed_check()
        cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
        own, children = _peak_mb()
        print(
            f"{len(docs)} councils with {args.workers} worker processes: {elapsed:.1f} s "
            f"({sum(each) / len(each):.2f} s per pack on average); target < 180 s"
        )
        print(f"worker CPU: {cpu:.0f} s in all, {cpu / len(docs):.2f} s per pack")
        print(f"speed check (fixed loop): {speed_before:.2f} s before, {speed_after:.2f} s after")
        print(f"peak memory (max RSS): {own:.0f} MB this process, {children:.0f} MB largest worker")


if __name__ == "__main__":
    main()
