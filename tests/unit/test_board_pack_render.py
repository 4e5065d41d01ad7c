"""The board pack renderer: snapshot -> HTML, SVG charts and PDF, rendered for real.

The snapshot is the golden one the product makes from a demo case file
(tests/fixtures/board_pack/, made by scripts/regenerate_pack_fixture.py; test_board_pack_fixture.py
checks it is still what the code makes), so these tests render what a board really receives.
Expected values are read from it rather than restated, so that a regenerated fixture still tests
the same things.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from statutory_clock.board_pack import (
    Snapshot,
    charts,
    rag_chart_svg,
    render_html,
    render_pack,
    render_pdf,
    timeline_svg,
)

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "board_pack"
    / "tower-hamlets-2017-november-2017.json"
)
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


def typed(snapshot: Any) -> Snapshot:
    """The snapshot the renderer takes, read from its JSON as the archive's reader does."""
    return Snapshot.from_dict(snapshot)


def sample_snapshot() -> dict[str, Any]:
    """A fresh copy of the golden snapshot (the tests change their copies freely)."""
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return loaded


def with_meeting(snapshot: dict[str, Any], meeting: str = "2017-12-14") -> dict[str, Any]:
    """The same pack made for a board meeting instead of as the monthly pack."""
    snapshot["board"]["meeting_date"] = meeting
    snapshot["period"]["label"] = f"board {meeting}"
    return snapshot


def with_parties(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Ofsted's acts marked as Ofsted's: past ones with no date on file become not_recorded, as
    engine.milestone_status has them (the rulebooks name each rule's party)."""
    ofsted = ("action_planning_visit", "first_monitoring_visit", "monitoring_visit", "reinspection")
    for m in snapshot["milestones"]:
        m["party"] = "ofsted" if m["rule"].split(".", 1)[-1] in ofsted else "council"
        if m["party"] != "council" and m["status"] == "overdue":
            m["status"] = "not_recorded"
    by_id = {m["id"]: m for m in snapshot["milestones"]}
    for key in ("next_90_days", "overdue_and_missed"):
        snapshot[key] = [by_id[m["id"]] for m in snapshot[key]]
    snapshot["overdue_and_missed"] = [
        m for m in snapshot["overdue_and_missed"] if m["status"] in ("overdue", "missed")
    ]
    snapshot["headline"]["overdue_count"] = sum(
        1 for m in snapshot["milestones"] if m["status"] == "overdue"
    )
    return snapshot


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
    return render_html(typed(snapshot))


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
        return render_pdf(typed(snapshot)), records
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


def test_html_is_one_document_with_the_cover_facts(html: str, snapshot: dict[str, Any]) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1
    text = text_of(html)
    assert snapshot["council"]["name"] == "London Borough of Tower Hamlets"
    assert "London Borough of Tower Hamlets" in text
    assert "Children's Services Improvement Board (CSIB)" in text
    assert "Period covered Wednesday 1 November 2017 to Thursday 30 November 2017" in text
    assert f"Version {snapshot['version']}" in text
    assert "Thursday 7 December 2017 at 07:00" in text
    assert "Friday 7 April 2017" in text  # judgement history
    assert "Inadequate" in text


# ---------------------------------------------------------------- what the pack is


def test_a_pack_with_no_meeting_on_file_is_the_monthly_pack(html: str) -> None:
    text = text_of(html)
    assert "Monthly pack for November 2017" in text
    assert "No meeting date is on file: this is the monthly pack." in text
    assert (
        "<title>London Borough of Tower Hamlets: Children&#39;s Services Improvement Board" in html
    )
    assert "monthly pack for November 2017</title>" in html
    assert "Not set" not in text and "Not set" not in html


def test_a_pack_for_a_meeting_names_the_meeting() -> None:
    html = render_html(typed(with_meeting(sample_snapshot())))
    text = text_of(html)
    assert "Pack for the board meeting on Thursday 14 December 2017" in text
    assert "Meeting Thursday 14 December 2017" in text
    assert "monthly pack" not in text.lower()
    assert "board 2017-12-14" not in text  # the archive's label is not shown as words


def test_an_ad_hoc_pack_names_the_days_it_covers() -> None:
    s = sample_snapshot()
    s["period"] = {"start": "2017-11-01", "end": "2017-12-07", "label": "ad hoc"}
    text = text_of(render_html(typed(s)))
    assert "Pack for Wednesday 1 November 2017 to Thursday 7 December 2017" in text
    assert "Not set" not in text


# ---------------------------------------------------------------- the headline


def _headline(html: str) -> str:
    section = html[html.index('id="sec-headline"') :]
    return text_of(section[: section.index("</table>")])


def test_the_headline_never_says_none_beside_overdue_items() -> None:
    s = sample_snapshot()
    s["headline"]["next_deadline"] = None  # no statutory deadline ahead, as in this pack
    overdue = sorted(
        (m for m in s["milestones"] if m["status"] == "overdue"), key=lambda m: m["due"]
    )
    assert overdue and s["headline"]["overdue_count"] == len(overdue)
    headline = _headline(render_html(typed(s)))
    assert f"{len(overdue)} overdue No further statutory deadlines are scheduled." in headline
    assert f"Oldest overdue item: {overdue[0]['title']}" in headline
    assert "None" not in headline
    upcoming = min(
        (m for m in s["milestones"] if m["status"] in ("upcoming", "due")),
        key=lambda m: m["due"],
    )
    assert f"Next dated item: {upcoming['title']}" in headline


def test_the_headline_gives_the_next_deadline_in_working_days() -> None:
    s = sample_snapshot()
    upcoming = next(m for m in s["milestones"] if m["status"] == "upcoming")
    s["headline"]["next_deadline"] = {
        "id": upcoming["id"],
        "title": upcoming["title"],
        "due": upcoming["due"],
        "working_days_left": 2,
    }
    headline = _headline(render_html(typed(s)))
    assert f"2 working days to the next statutory deadline: {upcoming['title']}" in headline
    assert "No further statutory deadlines" not in headline


def test_the_headline_with_nothing_overdue_and_nothing_ahead() -> None:
    s = sample_snapshot()
    for m in s["milestones"]:
        if m["status"] in ("overdue", "upcoming", "due"):
            m["status"] = "met"
    s["headline"].update(next_deadline=None, overdue_count=0)
    headline = _headline(render_html(typed(s)))
    assert "None scheduled No further statutory deadlines are scheduled." in headline
    assert "Next dated item" not in headline and "Oldest overdue" not in headline


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


def test_every_action_and_its_progress_is_shown(html: str, snapshot: dict[str, Any]) -> None:
    text = text_of(html)
    assert any(action["progress"] for action in snapshot["actions"])
    for action in snapshot["actions"]:
        assert " ".join(action["key_tasks"].split()) in text
        assert (action["lead_officer"] or "Not assigned") in text
        assert (action["required_outcome"] or "Not recorded") in text
        for entry in action["progress"]:
            assert entry["note"] in text


def test_an_ampersand_in_council_data_is_shown_as_one() -> None:
    s = sample_snapshot()
    s["actions"][0]["lead_officer"] = "Head of Quality Assurance & Practice Improvement"
    html = render_html(typed(s))
    assert "Head of Quality Assurance &amp; Practice Improvement" in html
    assert "Head of Quality Assurance & Practice Improvement" in text_of(html)


def test_actions_are_gathered_under_their_recommendation() -> None:
    s = sample_snapshot()
    first, second = copy.deepcopy(s["actions"][0]), copy.deepcopy(s["actions"][0])
    first.update(recommendation=3, required_outcome="Late item for recommendation three")
    second.update(recommendation=None, required_outcome="Item outside the recommendations")
    s["actions"] = [second, *s["actions"], first]  # out of order, and split from its group
    html = render_html(typed(s))
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
    section = html[html.index('id="sec-overdue"') :]
    text = text_of(section[: section.index("</section>")])
    assert snapshot["overdue_and_missed"]
    for item in snapshot["overdue_and_missed"]:
        assert item["title"] in text
    assert "No reason recorded." in text  # none of this pack's overdue items has one
    assert "No items are overdue." not in text
    waived = next(m for m in snapshot["milestones"] if m["status"] == "waived")
    s = sample_snapshot()
    s["overdue_and_missed"].append({**waived, "status": "overdue"})
    assert waived["reason"] in text_of(render_html(typed(s)))


def test_changes_since_the_previous_pack(html: str, snapshot: dict[str, Any]) -> None:
    text = text_of(html)
    assert "Compared with the previous pack of Tuesday 7 November 2017" in text
    changes = snapshot["changes_since_previous"]
    assert changes["moved"] and changes["completed"] and changes["rag_changes"]
    moved = changes["moved"][0]
    assert moved["title"] in text
    for completed in changes["completed"]:
        assert completed in text


def test_council_data_is_escaped() -> None:
    s = sample_snapshot()
    s["actions"][0]["progress"][0]["note"] = HOSTILE
    s["actions"][1]["lead_officer"] = HOSTILE
    s["council"]["name"] = "Croydon <Test> & Co"
    s["rag_by_theme"] = {HOSTILE: {"red": 1}, **s["rag_by_theme"]}
    s["milestones"][0]["title"] = HOSTILE
    html = render_html(typed(s))
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
    assert render_html(typed(copy.deepcopy(snapshot))) == html


def test_a_pack_remade_from_its_archived_snapshot_is_the_same(html: str) -> None:
    # The archive writes snapshot.json with sorted keys; the order of the judgements and of the
    # plan's themes comes from the report and the plan, not from the JSON's key order.
    s = sample_snapshot()
    s["inspection"]["judgements"] = dict(reversed(s["inspection"]["judgements"].items()))
    s["rag_by_theme"] = dict(reversed(s["rag_by_theme"].items()))
    assert render_html(typed(s)) == html
    text = text_of(html)
    assert text.index("Overall effectiveness") < text.index("Children who need help")
    table = text_of(html[html.index('<table class="data rag-table">') :].split("</table>")[0])
    themes = [a["theme"] for a in sorted(s["actions"], key=lambda a: a["recommendation"])]
    first_seen = list(dict.fromkeys(themes))
    positions = [table.index(t[:1].upper() + t[1:]) for t in first_seen]
    assert positions == sorted(positions)


def test_the_snapshot_is_frozen_and_its_json_round_trips() -> None:
    s = sample_snapshot()
    snapshot = typed(s)
    render_html(snapshot)
    assert snapshot.to_dict() == s  # rendering changed nothing, and the JSON edge loses nothing
    assert snapshot.to_json() + "\n" == FIXTURE.read_text(encoding="utf-8")
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.version = 2  # type: ignore[misc]


def test_unknown_schema_is_refused() -> None:
    s = sample_snapshot()
    s["schema"] = 2
    with pytest.raises(ValueError, match="schema 2"):
        typed(s)


@pytest.mark.parametrize("key", ["council", "as_of", "version"])
def test_a_snapshot_missing_a_required_key_is_refused(key: str) -> None:
    s = sample_snapshot()
    del s[key]
    with pytest.raises(ValueError, match=f"missing required keys: {key}"):
        typed(s)


def test_a_snapshot_with_an_unknown_status_is_refused() -> None:
    s = sample_snapshot()
    s["milestones"][0]["status"] = "late"
    with pytest.raises(ValueError, match="status: 'late'"):
        typed(s)


def test_missed_and_waived_items_are_labelled() -> None:
    s = sample_snapshot()
    missed = {**s["milestones"][0], "status": "missed", "reason": None}
    waived = {**s["milestones"][1], "status": "waived", "reason": "Waived by Ofsted"}
    s["overdue_and_missed"] = [missed, waived]
    s["milestones"][0:2] = [missed, waived]
    text = text_of(render_html(typed(s)))
    assert "Missed" in text and "Waived" in text
    assert "No reason recorded." in text and "Waived by Ofsted" in text
    root = ET.fromstring(timeline_svg(typed(s)))
    assert _markers(root, "tl-ms-") == len(s["milestones"])
    assert {g.get("id") for g in _groups(root, "tl-ms-")} >= {"tl-ms-missed", "tl-ms-waived"}


# ---------------------------------------------------------------- not recorded, whose act


@pytest.fixture(scope="module")
def parties() -> dict[str, Any]:
    return with_parties(sample_snapshot())


def test_not_recorded_has_its_own_words_apart_from_overdue(parties: dict[str, Any]) -> None:
    unrecorded = [m for m in parties["milestones"] if m["status"] == "not_recorded"]
    overdue = [m for m in parties["milestones"] if m["status"] == "overdue"]
    assert unrecorded and overdue
    html = render_html(typed(parties))
    tag = '<span class="status status-not_recorded">Not recorded</span>'
    assert html.count(tag) >= len(unrecorded)
    # Counted in the headline, apart from the council's overdue items.
    headline = _headline(html)
    assert f"{len(overdue)} overdue" in headline
    assert f"{len(unrecorded)} not recorded" in headline
    # Listed as dates to record, never among the overdue and missed items.
    section = html[html.index('id="sec-overdue"') :]
    section = section[: section.index("</section>")]
    overdue_table, _, to_record = section.partition("<h3>Dates to record</h3>")
    for m in unrecorded:
        assert m["title"] in text_of(to_record)
        assert m["title"] not in text_of(overdue_table)
    assert "Not recorded" not in text_of(overdue_table)


def test_not_recorded_has_its_own_colour(parties: dict[str, Any]) -> None:
    css = (Path(charts.__file__).parent / "templates" / "pack.css").read_text()

    def background(status: str) -> str:
        found = re.search(rf"\.status-{status} {{ background: (#[0-9a-f]+)", css)
        assert found, status
        return found[1]

    colours = {s: background(s) for s in ("overdue", "missed", "due", "met", "not_recorded")}
    assert len(set(colours.values())) == len(colours)
    assert charts._STATUS_STYLE["not_recorded"][1] == colours["not_recorded"]
    assert charts._STATUS_STYLE["not_recorded"][1] != charts._STATUS_STYLE["overdue"][1]


def test_the_timeline_draws_not_recorded_apart_with_a_legend(parties: dict[str, Any]) -> None:
    svg = timeline_svg(typed(parties))
    root = ET.fromstring(svg)
    unrecorded = [m for m in parties["milestones"] if m["status"] == "not_recorded"]
    group = next(g for g in _groups(root, "tl-ms-") if g.get("id") == "tl-ms-not_recorded")
    assert sum(1 for _ in group.iter(f"{SVG}use")) == len(unrecorded)
    assert _markers(root, "tl-ms-") == len(parties["milestones"])
    assert "Not recorded (Ofsted or DfE date to record)" in svg


def test_the_timeline_table_says_whose_act_each_date_is(parties: dict[str, Any]) -> None:
    html = render_html(typed(parties))
    table = html[html.index('<table class="data deadlines">') :]
    table = table[: table.index("</table>")]
    assert "Whose act" in text_of(table)
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
    assert len(rows) == len(parties["next_90_days"])
    for row, m in zip(rows, parties["next_90_days"], strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        assert text_of(cells[2]).strip() == {"council": "Council", "ofsted": "Ofsted"}[m["party"]]
    assert {m["party"] for m in parties["next_90_days"]} == {"council", "ofsted"}
    # A milestone with no party on file shows that, rather than a guess.
    unknown = sample_snapshot()
    for m in unknown["next_90_days"]:
        m.pop("party", None)
    assert "Not stated" in text_of(render_html(typed(unknown)))


def test_the_footer_of_a_meeting_pack_names_the_meeting() -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(render_pdf(typed(with_meeting(sample_snapshot())))))
    for page in reader.pages:
        text = page.extract_text() or ""
        assert "London Borough of Tower Hamlets · Board meeting Thursday 14 December 2017" in text


# ---------------------------------------------------------------- empty lists


def test_empty_lists_render_sentences_not_empty_tables() -> None:
    s = empty_snapshot()
    html = render_html(typed(s))
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
    pdf = render_pdf(typed(empty_snapshot()))
    assert pdf.startswith(b"%PDF")


def test_charts_of_an_empty_snapshot_are_valid_svg() -> None:
    s = empty_snapshot()
    for svg in (timeline_svg(typed(s)), rag_chart_svg(typed(s))):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        assert not _groups(root, "tl-ms-") and not _groups(root, "rag-seg-")


def test_changes_with_nothing_new_say_so() -> None:
    s = sample_snapshot()
    s["changes_since_previous"].update(new=[], moved=[], completed=[], rag_changes=[])
    assert "Nothing has changed since the previous pack." in text_of(render_html(typed(s)))


# ---------------------------------------------------------------- SVG charts


def _groups(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)]


def _markers(root: ET.Element, prefix: str) -> int:
    """Markers drawn in the groups whose id starts with prefix (one <use> per marker)."""
    return sum(1 for g in _groups(root, prefix) for _ in g.iter(f"{SVG}use"))


def test_timeline_has_one_marker_per_milestone(snapshot: dict[str, Any]) -> None:
    svg = timeline_svg(typed(snapshot))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert _markers(root, "tl-ms-") == len(snapshot["milestones"])
    windows = [m for m in snapshot["milestones"] if m["window_start"]]
    assert len(_groups(root, "tl-window-")) == len(windows) > 0
    done = [
        m
        for m in snapshot["milestones"]
        if m["status"] in ("met", "missed", "waived") and m["actual"]
    ]
    assert _markers(root, "tl-due") == len(done) > 0
    assert len(_groups(root, "tl-today")) == 1
    title = root.find(f"{SVG}title")
    assert title is not None and f"{len(snapshot['milestones'])} milestones" in (title.text or "")
    assert "As of 7 Dec 2017" in svg


def _years_on_the_axis(svg: str) -> list[int]:
    root = ET.fromstring(svg)
    texts = (t.text or "" for t in root.iter(f"{SVG}text") if "As of" not in (t.text or ""))
    return sorted({int(y) for t in texts for y in re.findall(r"\b(?:19|20)\d\d\b", t)})


def test_the_timeline_spans_the_case_not_the_years_since(snapshot: dict[str, Any]) -> None:
    # A case seen long after its last milestone (a seed council today): the axis still runs
    # from the report to the last milestone, and the as-of date is said at the edge.
    s = sample_snapshot()
    s["as_of"] = "2026-11-30"
    svg = timeline_svg(typed(s))
    root = ET.fromstring(svg)
    last = max(m["due"] for m in s["milestones"])
    assert _years_on_the_axis(svg)[0] == 2017
    assert _years_on_the_axis(svg)[-1] <= int(last[:4]) + 1 < 2026 - 5
    assert not _groups(root, "tl-today")
    assert "As of 30 Nov 2026: after every milestone" in svg
    # ...and the axis starts at the report, not at a date before it.
    before = timeline_svg(typed(sample_snapshot()))
    assert _years_on_the_axis(before)[0] == int(s["inspection"]["published"][:4])


def _labels_outside(figure: Any) -> list[str]:
    """Every piece of text of a matplotlib figure that does not lie wholly inside it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    page = figure.bbox
    outside = []
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if min(box.x0 - page.x0, page.x1 - box.x1, box.y0 - page.y0, page.y1 - box.y1) < -0.5:
            outside.append(text.get_text())
    return outside


def _timeline_labels_outside(snapshot: dict[str, Any]) -> list[str]:
    import matplotlib

    with matplotlib.rc_context(charts._RC):  # the settings timeline_svg draws with
        drawn = charts.timeline_figure(typed(snapshot))
        assert drawn is not None
        return _labels_outside(drawn[0])


@pytest.mark.parametrize(
    "as_of",
    ["2017-12-07", "2017-04-10", "2019-07-20", "2026-11-30", "2010-01-04"],
    ids=["mid-case", "just-after-the-report", "near-the-end", "years-later", "before"],
)
def test_every_timeline_label_is_inside_the_figure(as_of: str) -> None:
    s = with_parties(sample_snapshot())  # every status, so the longest legend
    s["as_of"] = as_of
    s["milestones"][0]["title"] = "An exceptionally long milestone title " * 4
    assert _timeline_labels_outside(s) == []


def test_every_rag_chart_label_is_inside_the_figure(snapshot: dict[str, Any]) -> None:
    import matplotlib

    s = sample_snapshot()
    s["rag_by_theme"] = {
        "a theme with an exceptionally long name that a council might well give it": {"red": 1},
        **s["rag_by_theme"],
    }
    with matplotlib.rc_context(charts._RAG_RC):  # the settings rag_chart_svg draws with
        drawn = charts.rag_chart_figure(typed(s))
        assert drawn is not None
        assert _labels_outside(drawn[0]) == []


def test_the_label_check_sees_a_label_outside() -> None:
    # The check above can fail: text running off a figure's right edge is reported.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.text(0.1, 0.5, "inside")
    figure.text(0.9, 0.5, "running off the page")
    assert _labels_outside(figure) == ["running off the page"]


def test_rag_chart_has_one_segment_per_nonzero_count(snapshot: dict[str, Any]) -> None:
    root = ET.fromstring(rag_chart_svg(typed(snapshot)))
    expected = sum(1 for counts in snapshot["rag_by_theme"].values() for v in counts.values() if v)
    assert len(_groups(root, "rag-seg-")) == expected
    labels = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Help and protection" in labels and "Practice standards" in labels


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
    assert "London Borough of Tower Hamlets" in text
    assert "Page 1 of" in text
    assert f"Page {pages} of {pages}" in text
    # The running footer says what the pack is, on every page; never "Board meeting Not set".
    footer = "London Borough of Tower Hamlets · Monthly pack for November 2017"
    assert text.count(footer) == pages
    assert "Not set" not in text
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
    rendered = render_pack(typed(snapshot))
    assert rendered.html == html  # inline SVG charts for mail clients
    assert rendered.pdf.startswith(b"%PDF") and len(rendered.pdf) == pytest.approx(len(pdf), 0.01)


def test_weasyprint_has_nothing_to_warn_about(pdf_and_log: tuple[bytes, list[str]]) -> None:
    # e.g. unsupported CSS, SVG styles read as HTML CSS, or a refused fetch. Without the
    # HarfBuzz subsetting library WeasyPrint says it falls back to fontTools: not our concern.
    assert [m for m in pdf_and_log[1] if "fontTools" not in m] == []


def _structure(node: Any, found: list[Any]) -> list[Any]:
    """Every structure element under `node` of the PDF's tag tree, depth first."""
    node = node.get_object()
    if isinstance(node, list):
        for kid in node:
            _structure(kid, found)
    elif hasattr(node, "get"):
        if node.get("/S"):
            found.append(node)
        kids = node.get("/K")
        if kids is not None and not isinstance(kids, int):
            _structure(kids, found)
    return found


def test_pdf_is_tagged_pdf_ua_with_title_and_language(pdf_path: Path, html: str) -> None:
    # Public bodies publish accessible documents: the pack is PDF/UA-1 (ISO 14289-1), a tagged
    # PDF a screen reader can follow, which declares its title and language.
    from pypdf import PdfReader

    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (Debian package poppler-utils) is not installed")
    info = subprocess.run(
        ["pdfinfo", str(pdf_path)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert fields["Tagged"].strip() == "yes"
    title = re.search(r"<title>(.*?)</title>", html, flags=re.S)
    assert title is not None
    assert fields["Title"].strip() == text_of(title.group(1)).strip()
    assert 'lang="en-GB"' in html

    reader = PdfReader(str(pdf_path))
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "en-GB"
    assert catalog["/MarkInfo"]["/Marked"].value is True
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"].value is True  # title, not file name
    xmp = reader.xmp_metadata
    assert xmp is not None
    pdfua = "http://www.aiim.org/pdfua/ns/id/"
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    parts = {
        d.getAttributeNS(pdfua, "part")
        for d in xmp.rdf_root.getElementsByTagNameNS(rdf, "Description")
    }
    assert "1" in parts  # pdfuaid:part="1": the file claims PDF/UA-1

    # The tags carry the document's structure: headings, tables with header cells, and the
    # charts as figures whose alternative text is the charts' own description in the HTML.
    elements = _structure(catalog["/StructTreeRoot"], [])
    kinds = {e["/S"] for e in elements}
    assert {"/H1", "/H2", "/Table", "/TH", "/TD", "/Figure"} <= kinds
    alts = sorted(str(e.get("/Alt")) for e in elements if e["/S"] == "/Figure")
    chart_alts = sorted(unescape(t) for t in re.findall(r'<title id="[^"]+">([^<]*)</title>', html))
    assert alts and alts == chart_alts


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
            # Above the running footer (20 mm of 297, or of 210 on a landscape page), which
            # every page has: a page with the footer alone would be blank.
            grey = image.convert("L")
            body = grey.crop((0, 0, grey.width, int(grey.height * 0.9)))
            dark = sum(body.histogram()[:200])  # pixels clearly darker than white
            fraction = dark / (body.width * body.height)
        # The last lines of a section can fill little of a page; a blank one has nothing.
        assert fraction > 0.002, f"{image_path.name} looks blank ({fraction:.4f} non-white)"


def test_a_due_date_on_a_non_working_day_shows_the_day_to_act_by() -> None:
    # Issue 13: a council deadline keeps its legal due date; the pack says when to act by.
    s = sample_snapshot()
    for rows in (s["milestones"], s["next_90_days"], s["overdue_and_missed"]):
        for m in rows:
            if m["id"] in ("monitoring_audits_due_3", "monitoring_audits_due_1"):
                m["due"], m["act_by"] = "2018-02-10", "2018-02-09"  # a Saturday, the Friday
    text = text_of(render_html(typed(s)))
    assert "Saturday 10 February 2018 act by Friday 9 February 2018" in text
    # Where the due date is a working day (act_by the same), and in an archive from before
    # act_by was recorded, nothing more is said.
    plain = sample_snapshot()
    for m in plain["next_90_days"]:
        m.pop("act_by")
    assert "act by" not in text_of(render_html(typed(plain)))
    assert "act by" not in text_of(render_html(typed(sample_snapshot())))


def test_a_report_with_key_judgements_only_shows_the_worst_in_the_history() -> None:
    """ILACS reports from April 2026 have no overall grade: the history says so and gives the
    worst key judgement, rather than "Not recorded"; the snapshot keeps it through its JSON."""
    s = sample_snapshot()
    s["judgement_history"].append(
        {
            "published": "2026-10-30",
            "framework": "ilacs",
            "overall": None,
            "worst_area": "inadequate",
        }
    )
    back = typed(s)
    assert back.judgement_history[-1].worst_area == "inadequate"
    assert back.to_dict()["judgement_history"][-1] == s["judgement_history"][-1]
    text = text_of(render_html(back))
    assert "Friday 30 October 2026" in text
    assert "No overall grade (key judgements only); the worst: Inadequate" in text
