"""The improvement board pack: a snapshot (a typed frozen `Snapshot`) in, documents out.

    render_html(snapshot) -> str      one self-contained HTML document, also the email body
    render_pack(snapshot) -> RenderedPack(html, pdf)
                                      both at once, the PDF made by WeasyPrint from the same
                                      template and context (the charts drawn once)
    render_pdf(snapshot) -> bytes     the PDF alone
    timeline_svg(snapshot) -> str     statutory timeline chart (matplotlib), SVG text
    rag_chart_svg(snapshot) -> str    action-plan RAG ratings by theme, SVG text

Importing this package is cheap: Jinja2, matplotlib and WeasyPrint are imported on first use.
It never imports Airflow. The snapshot (schema 1, `snapshot.py`) is what
`assemble.build_snapshot` makes from the register, archived as JSON (`Snapshot.to_json`, read
back with `Snapshot.from_json`); a real one, generated from a demo case file by
`scripts/regenerate_pack_fixture.py`, is kept for the tests in `tests/fixtures/board_pack/`.
"""

from statutory_clock.board_pack.charts import rag_chart_svg, timeline_svg
from statutory_clock.board_pack.render import RenderedPack, render_html, render_pack, render_pdf
from statutory_clock.board_pack.snapshot import Snapshot

__all__ = [
    "RenderedPack",
    "Snapshot",
    "rag_chart_svg",
    "render_html",
    "render_pack",
    "render_pdf",
    "timeline_svg",
]
