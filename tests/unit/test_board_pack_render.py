"""The board pack renderer: snapshot -> HTML, SVG charts and PDF, rendered for real."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from statutory_clock.board_pack import (
    rag_chart_svg,
    render_html,
    render_pack,
    render_pdf,
    timeline_svg,
)
from statutory_clock.board_pack.sample_snapshot import sample_snapshot

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('pwned')</script> & <b>bold</b>"


class _Text(HTMLParser):
    """Visible text of an HTML document, entities decoded, outside <style> and <svg>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("style", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def empty_snapshot() -> dict[str, Any]:
    """A first pack with nothing in it yet: no milestones, actions, overdue items or DfE."""
    s = sample_snapshot()
    s.update(
        milestones=[],
        next_90_days=[],
        overdue_and_missed=[],
        actions=[],
        rag_by_theme={},
        rag_totals=dict.fromkeys(("red", "amber", "green", "complete", "not_rated"), 0),
        judgement_history=[],
        monitoring_visits=[],
        intervention=None,
        rules_appendix=[],
        changes_since_previous={
            "previous_version_date": None,
            "new": [],
            "moved": [],
            "completed": [],
            "rag_changes": [],
        },
    )
    s["headline"] = {
        "next_deadline": None,
        "overdue_count": 0,
        "missed_count": 0,
        "met_count": 0,
        "upcoming_count": 0,
    }
    return s


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    return sample_snapshot()


@pytest.fixture(scope="module")
def html(snapshot: dict[str, Any]) -> str:
    return render_html(snapshot)


@pytest.fixture(scope="module")
def pdf_and_log(snapshot: dict[str, Any]) -> tuple[bytes, list[str]]:
    """The PDF, and what WeasyPrint logged at WARNING or above while making it."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("weasyprint")
    handler = Collect(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        return render_pdf(snapshot), records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def pdf(pdf_and_log: tuple[bytes, list[str]]) -> bytes:
    return pdf_and_log[0]


@pytest.fixture(scope="module")
def pdf_path(pdf: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pack") / "pack.pdf"
    path.write_bytes(pdf)
    return path


# ---------------------------------------------------------------- HTML


def test_sample_snapshot_is_plain_json(snapshot: dict[str, Any]) -> None:
    again = json.loads(json.dumps(snapshot))
    assert again == snapshot
    assert render_html(again) == render_html(snapshot)


def test_html_is_one_document_with_the_cover_facts(html: str, snapshot: dict[str, Any]) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1
    text = text_of(html)
    assert "London Borough of Croydon" in text
    assert "Children's Service Improvement Board" in text
    assert "Meeting Thursday 14 December 2017" in text
    assert "Wednesday 1 November 2017 to Thursday 30 November 2017" in text
    assert f"Version {snapshot['version']}" in text
    assert "Thursday 7 December 2017 at 07:00" in text


def test_headline_gives_the_next_deadline_in_working_days(html: str) -> None:
    text = text_of(html)
    assert "2 working days" in text
    assert "Monday 11 December 2017" in text
    assert "Friday 16 March 2012" in text  # judgement history
    assert "Inadequate" in text


def test_sections_are_in_the_required_order(html: str) -> None:
    text = text_of(html)
    titles = [
        "1. Headline status",
        "2. Statutory timeline",
        "3. Overdue and missed items",
        "4. Action plan progress",
        "5. What changed since the previous pack",
        "6. Monitoring visits",
        "7. DfE intervention",
        "8. Appendix: rules and sources",
    ]
    positions = [text.rindex(t) for t in titles]  # rindex: after the contents list
    assert positions == sorted(positions)


def test_every_action_lead_officer_and_outcome_is_shown(
    html: str, snapshot: dict[str, Any]
) -> None:
    text = text_of(html)
    for action in snapshot["actions"]:
        assert action["lead_officer"] in text
        assert action["required_outcome"] in text
        for entry in action["progress"]:
            assert entry["note"] in text
    # "&" in council data is escaped in the markup and shown as "&" to the reader
    assert "Head of Quality Assurance &amp; Practice Improvement" in html


def test_actions_are_gathered_under_their_recommendation() -> None:
    s = sample_snapshot()
    first, second = copy.deepcopy(s["actions"][0]), copy.deepcopy(s["actions"][0])
    first.update(recommendation=3, required_outcome="Late item for recommendation three")
    second.update(recommendation=None, required_outcome="Item outside the recommendations")
    s["actions"] = [second, *s["actions"], first]  # out of order, and split from its group
    html = render_html(s)
    table = html[html.index('<table class="data actions">') :]
    table = text_of(table[: table.index("</table>")])
    heading = next(a for a in s["actions"] if a["recommendation"] == 3)["recommendation_text"]
    assert table.count("Recommendation 3 ") == 1  # one heading row, not one per run of items
    three = table.index("Recommendation 3 ")
    assert three < table.index(heading) < table.index("Late item for recommendation three")
    assert table.index("Late item for recommendation three") < table.index("Recommendation 4 ")
    # items linked to no recommendation come last, under a heading that says so
    unlinked = table.index("Not linked to a recommendation")
    assert table.index("Recommendation 10 ") < unlinked
    assert unlinked < table.index("Item outside the recommendations")


def test_rag_totals_match_the_snapshot(html: str, snapshot: dict[str, Any]) -> None:
    shown = {k: int(v) for k, v in re.findall(r'class="num rag-total-(\w+)">(\d+)<', html)}
    assert shown == snapshot["rag_totals"]
    by_status: dict[str, int] = {}
    for action in snapshot["actions"]:
        key = action["status"] or "not_rated"
        by_status[key] = by_status.get(key, 0) + 1
    assert {k: v for k, v in shown.items() if v} == by_status


def test_rag_status_is_a_word_not_only_a_colour(html: str) -> None:
    for word, css in (("Red", "red"), ("Amber", "amber"), ("Green", "green")):
        assert f'<span class="rag rag-{css}">{word}</span>' in html
    assert '<span class="rag rag-not_rated">Not rated</span>' in html


def test_appendix_cites_every_rule(html: str, snapshot: dict[str, Any]) -> None:
    appendix = text_of(html[html.index('id="sec-appendix"') :])
    assert snapshot["rules_appendix"]
    for rule in snapshot["rules_appendix"]:
        assert rule["rule"] in appendix
        assert rule["source"] in appendix
    assert "SI 2007/462 reg 3; EIA 2006 s137(2)-(4)" in appendix
    assert "Unverified" in appendix and "High" in appendix


def test_overdue_items_show_their_reason(html: str, snapshot: dict[str, Any]) -> None:
    text = text_of(html)
    for item in snapshot["overdue_and_missed"]:
        assert item["reason"] in text
    assert "No items are overdue." not in text


def test_changes_since_the_previous_pack(html: str) -> None:
    text = text_of(html)
    assert "Compared with the previous pack of Thursday 9 November 2017" in text
    assert "Monday 27 November 2017" in text and "Monday 8 January 2018" in text


def test_council_data_is_escaped() -> None:
    s = sample_snapshot()
    s["actions"][0]["progress"][0]["note"] = HOSTILE
    s["actions"][1]["lead_officer"] = HOSTILE
    s["council"]["name"] = "Croydon <Test> & Co"
    s["rag_by_theme"] = {HOSTILE: {"red": 1}, **s["rag_by_theme"]}
    s["milestones"][0]["title"] = HOSTILE
    html = render_html(s)
    assert "<script>" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "Croydon &lt;Test&gt; &amp; Co" in html
    assert HOSTILE in text_of(html)
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)  # still well-formed XML with the hostile text inside


def test_html_is_self_contained(html: str) -> None:
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "<link" not in html and "<img" not in html and "<script" not in html
    assert "@import" not in html
    assert not re.search(r"url\((?!#)", html)
    assert "<svg" in html  # charts inline


def test_rendering_is_deterministic(snapshot: dict[str, Any], html: str) -> None:
    assert render_html(copy.deepcopy(snapshot)) == html


def test_the_snapshot_is_not_modified() -> None:
    s = sample_snapshot()
    before = copy.deepcopy(s)
    render_html(s)
    assert s == before


def test_unknown_schema_is_refused() -> None:
    s = sample_snapshot()
    s["schema"] = 2
    with pytest.raises(ValueError, match="schema 2"):
        render_html(s)


def test_missed_and_waived_items_are_labelled() -> None:
    s = sample_snapshot()
    missed = {**s["milestones"][0], "status": "missed", "reason": None}
    waived = {**s["milestones"][1], "status": "waived", "reason": "Waived by Ofsted"}
    s["overdue_and_missed"] = [missed, waived]
    s["milestones"][0:2] = [missed, waived]
    text = text_of(render_html(s))
    assert "Missed" in text and "Waived" in text
    assert "No reason recorded." in text and "Waived by Ofsted" in text
    root = ET.fromstring(timeline_svg(s))
    assert _markers(root, "tl-ms-") == len(s["milestones"])
    assert {g.get("id") for g in _groups(root, "tl-ms-")} >= {"tl-ms-missed", "tl-ms-waived"}


# ---------------------------------------------------------------- empty lists


def test_empty_lists_render_sentences_not_empty_tables() -> None:
    s = empty_snapshot()
    html = render_html(s)
    text = text_of(html)
    for sentence in (
        "No items are overdue.",
        "No action plan items have been recorded.",
        "No deadlines fall in the next 90 days.",
        "No milestones have been computed for this council.",
        "No earlier judgements are recorded.",
        "This is the first pack: there is no previous pack to compare with.",
        "No monitoring visits are scheduled or recorded.",
        "No rules were used in this pack.",
        "No further statutory deadlines are scheduled.",
    ):
        assert sentence in text
    assert "DfE intervention" not in text  # section and its contents entry omitted
    assert "7. Appendix: rules and sources" in text
    assert "<tbody>\n    </tbody>" not in html
    assert not re.search(r"<tbody[^>]*>\s*</tbody>", html)


def test_empty_snapshot_renders_a_pdf() -> None:
    pdf = render_pdf(empty_snapshot())
    assert pdf.startswith(b"%PDF")


def test_charts_of_an_empty_snapshot_are_valid_svg() -> None:
    s = empty_snapshot()
    for svg in (timeline_svg(s), rag_chart_svg(s)):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        assert not _groups(root, "tl-ms-") and not _groups(root, "rag-seg-")


def test_changes_with_nothing_new_say_so() -> None:
    s = sample_snapshot()
    s["changes_since_previous"].update(new=[], moved=[], completed=[], rag_changes=[])
    assert "Nothing has changed since the previous pack." in text_of(render_html(s))


# ---------------------------------------------------------------- SVG charts


def _groups(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)]


def _markers(root: ET.Element, prefix: str) -> int:
    """Markers drawn in the groups whose id starts with prefix (one <use> per marker)."""
    return sum(1 for g in _groups(root, prefix) for _ in g.iter(f"{SVG}use"))


def test_timeline_has_one_marker_per_milestone(snapshot: dict[str, Any]) -> None:
    svg = timeline_svg(snapshot)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert _markers(root, "tl-ms-") == len(snapshot["milestones"])
    windows = [m for m in snapshot["milestones"] if m["window_start"]]
    assert len(_groups(root, "tl-window-")) == len(windows) == 2
    met = [m for m in snapshot["milestones"] if m["status"] == "met" and m["actual"]]
    assert _markers(root, "tl-due") == len(met) > 0
    assert len(_groups(root, "tl-today")) == 1
    title = root.find(f"{SVG}title")
    assert title is not None and "26 milestones" in (title.text or "")
    assert "As of 7 Dec 2017" in svg


def test_rag_chart_has_one_segment_per_nonzero_count(snapshot: dict[str, Any]) -> None:
    root = ET.fromstring(rag_chart_svg(snapshot))
    expected = sum(1 for counts in snapshot["rag_by_theme"].values() for v in counts.values() if v)
    assert len(_groups(root, "rag-seg-")) == expected
    labels = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Help and protection" in labels and "LSCB" in labels


def test_chart_ids_do_not_clash_in_the_html(html: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_importing_the_package_is_cheap_and_airflow_free() -> None:
    check = (
        "import sys, statutory_clock.board_pack\n"
        "heavy = ('airflow', 'matplotlib', 'weasyprint', 'jinja2')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- PDF


def test_pdf_is_a4_with_page_numbers(pdf: bytes) -> None:
    from pypdf import PdfReader

    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert 3 <= pages < 40
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    assert "London Borough of Croydon" in text
    assert "Page 1 of" in text
    assert f"Page {pages} of {pages}" in text
    assert "Board meeting Thursday 14 December 2017" in text  # running footer
    for page in reader.pages:
        w, h = sorted((float(page.mediabox.width), float(page.mediabox.height)))
        assert (round(w), round(h)) == (595, 842)  # A4, portrait or landscape


def test_pdf_draws_the_charts_with_real_text(pdf: bytes, html: str) -> None:
    # In the PDF the charts are the same SVG, drawn by WeasyPrint as vectors and text.
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
    chart_text = re.findall(r"<text[^>]*>([^<]+)</text>", html)
    assert "Help and protection" in chart_text  # a RAG chart row label
    for label in chart_text:
        assert label in text


def test_render_pack_gives_the_email_html_and_the_pdf(
    snapshot: dict[str, Any], html: str, pdf: bytes
) -> None:
    rendered = render_pack(snapshot)
    assert rendered.html == html  # inline SVG charts for mail clients
    assert rendered.pdf.startswith(b"%PDF") and len(rendered.pdf) == pytest.approx(len(pdf), 0.01)


def test_weasyprint_has_nothing_to_warn_about(pdf_and_log: tuple[bytes, list[str]]) -> None:
    # e.g. unsupported CSS, SVG styles read as HTML CSS, or a refused fetch. Without the
    # HarfBuzz subsetting library WeasyPrint says it falls back to fontTools: not our concern.
    assert [m for m in pdf_and_log[1] if "fontTools" not in m] == []


def test_pdf_page_images_are_not_blank(pdf_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian package poppler-utils) is not installed")
    from PIL import Image

    prefix = pdf_path.parent / "page"
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(pdf_path), str(prefix)], check=True, timeout=120
    )
    images = sorted(pdf_path.parent.glob("page*.png"))
    assert len(images) >= 3
    for image_path in images:
        with Image.open(image_path) as image:
            grey = image.convert("L")
            dark = sum(grey.histogram()[:200])  # pixels clearly darker than white
            fraction = dark / (grey.width * grey.height)
        assert fraction > 0.01, f"{image_path.name} looks blank ({fraction:.4f} non-white)"
