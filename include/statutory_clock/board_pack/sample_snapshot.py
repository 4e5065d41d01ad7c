"""A realistic board-pack snapshot for Croydon 2017, for tests and for developing the templates.

Provenance. From the Croydon case file (`include/demo/croydon-2017.yaml`, seed 002): the council,
the SIF judgements (published Monday 4 September 2017), the ten key areas for improvement, the
board (Children's Service Improvement Board, chair Edwina Grant OBE, monthly) and the DfE
commissioner (Eleanor Brazil). The direction date 4 September 2017 is the brief's. Milestone due
dates, rules, sources and basis lines are what `statclock clock --framework sif --published
2017-09-04 --judgement inadequate --direction 2017-09-04 --as-of 2017-12-07` computes (board
chair reports are left out because the direction names no independent chair).

Illustrative, not from any source: the action plan items, lead officers (given as roles),
progress notes and RAG ratings; the actual dates recorded as met; the local "share the draft
plan" milestone and its reason; the 2012 entry of the judgement history; the commissioner's
status text; and the changes since a previous pack dated Thursday 9 November 2017.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

_OFSTED_2016 = "Ofsted, Monitoring and re-inspection of LA children's services judged inadequate"
_MV_SOURCE = f"{_OFSTED_2016} (Aug 2016) paras 5, 41-42"
_AUDIT_SOURCE = f"{_OFSTED_2016} (Aug 2016) para 28"
_DFE_REVIEW_SOURCE = "DfE intervention (improvement notice or direction); seeds 001 and 003"
_RAG_KEYS = ("red", "amber", "green", "complete", "not_rated")


def _milestone(
    id: str,
    title: str,
    due: str,
    *,
    rule: str,
    source: str,
    basis: str,
    confidence: str,
    kind: str,
    status: str = "upcoming",
    window_start: str | None = None,
    actual: str | None = None,
    owner: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "due": due,
        "window_start": window_start,
        "actual": actual,
        "status": status,
        "rule": rule,
        "source": source,
        "basis": basis,
        "confidence": confidence,
        "kind": kind,
        "owner": owner,
        "reason": reason,
    }


def _monitoring_cycle(
    n: int, visit: str, audits: str, previous: tuple[str, str]
) -> list[dict[str, Any]]:
    """Quarterly monitoring visit number n and its case audits, as the engine forecasts them."""
    previous_id, previous_due = previous
    visit_id = "first_monitoring_visit" if n == 1 else f"monitoring_visit_{n}"
    if n == 1:
        visit_ms = _milestone(
            visit_id,
            "First Ofsted monitoring visit",
            visit,
            rule="sif.first_monitoring_visit",
            source=f"{_OFSTED_2016} (Aug 2016) para 24",
            basis="28 calendar days after 2017-12-11 (written_statement_of_action, deadline)",
            confidence="medium",
            kind="regulatory",
            owner="Director of Early Help and Children's Social Care",
        )
    else:
        visit_ms = _milestone(
            visit_id,
            "Quarterly Ofsted monitoring visit (2-3 inspectors, 2 days on site; letter published)"
            f" ({n})",
            visit,
            rule="sif.monitoring_visit",
            source=_MV_SOURCE,
            basis=f"3 calendar months after {previous_due} ({previous_id}, forecast)",
            confidence="medium",
            kind="regulatory",
            owner="Director of Early Help and Children's Social Care" if n == 2 else None,
        )
    audits_ms = _milestone(
        f"monitoring_audits_due_{n}",
        "Return the case audits requested for the monitoring visit (up to six cases)",
        audits,
        rule="sif.monitoring_audits_due",
        source=_AUDIT_SOURCE,
        basis=f"3 working days before {visit} ({visit_id}, forecast)",
        confidence="unverified",
        kind="regulatory",
        owner="Head of Quality Assurance & Practice Improvement" if n <= 2 else None,
    )
    return [audits_ms, visit_ms]


def _milestones() -> list[dict[str, Any]]:
    ms = [
        _milestone(
            "publish_report",
            "Publish the inspection report (partners, safeguarding partners, local press and"
            " radio)",
            "2017-10-16",
            rule="sif.publish_report",
            source="SI 2007/462 reg 2; EIA 2006 s137",
            basis="30 working days after 2017-09-04 (publication)",
            confidence="high",
            kind="statutory",
            status="met",
            actual="2017-09-05",
            owner="Head of Democratic Services & Scrutiny",
        ),
        _milestone(
            "action_planning_visit",
            "Action planning visit with the Ofsted lead inspector (share the early draft plan"
            " before it)",
            "2017-10-23",
            window_start="2017-10-09",
            rule="sif.action_planning_visit",
            source=f"{_OFSTED_2016} (Aug 2016) paras 5, 15",
            basis="between 25 and 35 working days after 2017-09-04 (publication)",
            confidence="unverified",
            kind="regulatory",
            status="met",
            actual="2017-10-12",
            owner="Executive Director (People)",
        ),
        _milestone(
            "share_draft_plan",
            "Share the draft improvement plan with Ofsted and the DfE for feedback",
            "2017-11-24",
            rule="local.share_draft_plan",
            source="Report to the Children and Young People Scrutiny Sub-Committee,"
            " 19 September 2017, para 3",
            basis="local target: ten working days before the first monitoring visit window",
            confidence="medium",
            kind="practice",
            status="overdue",
            owner="Executive Director (People)",
            reason=(
                "The Commissioner returned the draft on 22 November 2017 asking for a stronger"
                " early help & front door section; resubmission agreed for Friday"
                " 8 December 2017."
            ),
        ),
        _milestone(
            "commissioner_report",
            "DfE Children's Services Commissioner reports to the Secretary of State",
            "2017-12-04",
            rule="dfe_intervention.commissioner_report",
            source="Direction under s497A Education Act 1996 (via s50 Children Act 2004);"
            " seeds 000 and 002",
            basis="3 calendar months after 2017-09-04 (DfE direction)",
            confidence="high",
            kind="statutory",
            status="met",
            actual="2017-12-01",
            owner="Eleanor Brazil",
        ),
        _milestone(
            "written_statement_of_action",
            "Send the written statement of proposed action to Ofsted (HMCI) and the Secretary"
            " of State, and publish it",
            "2017-12-11",
            rule="sif.written_statement_of_action",
            source="SI 2007/462 reg 3; EIA 2006 s137(2)-(4)",
            basis="70 working days after 2017-09-04 (publication)",
            confidence="high",
            kind="statutory",
            status="due",
            owner="Executive Director (People)",
        ),
    ]
    cycles = [
        ("2018-01-08", "2018-01-03"),
        ("2018-04-08", "2018-04-04"),
        ("2018-07-08", "2018-07-04"),
        ("2018-10-08", "2018-10-03"),
        ("2019-01-08", "2019-01-03"),
        ("2019-04-08", "2019-04-03"),
        ("2019-07-08", "2019-07-03"),
        ("2019-10-08", "2019-10-03"),
    ]
    previous = ("written_statement_of_action", "2017-12-11")
    for n, (visit, audits) in enumerate(cycles, start=1):
        ms.extend(_monitoring_cycle(n, visit, audits, previous))
        previous = ("first_monitoring_visit" if n == 1 else f"monitoring_visit_{n}", visit)
    reviews = ["2018-03-04", "2018-09-04", "2019-03-04", "2019-09-04"]
    after = "2017-09-04 (DfE direction)"
    for n, due in enumerate(reviews, start=1):
        ms.append(
            _milestone(
                f"dfe_review_{n}",
                f'DfE intervention adviser\'s progress review ("bi-annual DfE review") ({n})',
                due,
                rule="dfe_intervention.dfe_review",
                source=_DFE_REVIEW_SOURCE,
                basis=f"6 calendar months after {after}",
                confidence="medium",
                kind="practice",
                owner="Chief Executive" if n == 1 else None,
            )
        )
        after = f"{due} (dfe_review_{n}, forecast)"
    ms.append(
        _milestone(
            "reinspection",
            "Full re-inspection (usually after at least four quarterly monitoring visits)",
            "2019-12-11",
            window_start="2017-12-12",
            rule="sif.reinspection",
            source=f"{_OFSTED_2016} (Aug 2016) paras 50-52",
            basis="within 24 calendar months after 2017-12-11"
            " (written_statement_of_action, forecast)",
            confidence="medium",
            kind="regulatory",
        )
    )
    ms.sort(key=lambda m: (m["due"], m["id"]))
    return ms


def _action(
    recommendation: int,
    text: str,
    theme: str,
    required_outcome: str,
    lead_officer: str,
    key_tasks: str,
    progress: list[tuple[str, str]],
    target_date: str | None,
    status: str | None,
    smt_lead: str = "Executive Director (People)",
) -> dict[str, Any]:
    return {
        "recommendation": recommendation,
        "recommendation_text": text,
        "theme": theme,
        "required_outcome": required_outcome,
        "lead_officer": lead_officer,
        "key_tasks": key_tasks,
        "progress": [{"date": d, "note": note} for d, note in progress],
        "target_date": target_date,
        "status": status,
        "smt_lead": smt_lead,
    }


_KEY_AREAS = {
    1: "Widespread and serious failures in providing services for children and families that"
    " leave some children at risk of significant harm.",
    2: "Too many children are left too long for a decision to become looked after and our"
    " responses are not timely or robust enough to ensure risk was reduced.",
    3: "The quality of our plans and weak managerial oversight are not driving practice and"
    " outcomes for children and young people sufficiently.",
    4: "We are not creating conditions for social work to thrive across the whole service, with"
    " some social work caseloads being too high in parts of the service.",
    5: "Children and families experience too many changes in social worker.",
    6: "Corporate parenting needs strengthening to ensure improvement takes place across all"
    " practice areas for looked after children.",
    7: "Early help is not fully established or understood enough across the partnership"
    " (council and Croydon Safeguarding Children Board).",
    8: "There is insufficient line of sight to the front line.",
    9: "The Croydon Safeguarding Children Board does not understand the experiences of children"
    " and young people and has failed to sufficiently monitor and evaluate the effectiveness of"
    " front-line practice.",
    10: "The Croydon Safeguarding Children Board lacks direction and purpose and does not provide"
    " effective challenge to poor practice and risks to vulnerable children in Croydon.",
}


def _actions() -> list[dict[str, Any]]:
    k = _KEY_AREAS
    return [
        _action(
            1,
            k[1],
            "help and protection",
            "Every referral is screened within one working day and children at risk of"
            " significant harm have a strategy discussion the same day.",
            "Head of Service, MASH & Assessment",
            "Audit all open child protection plans; re-launch the threshold document with"
            " partners; daily MASH management huddle.",
            [
                (
                    "2017-10-30",
                    "Audit of 412 open child protection plans completed; 37 cases"
                    " escalated to the Head of Service.",
                ),
                (
                    "2017-11-27",
                    "Threshold document agreed by the partnership; launch events"
                    " booked for January 2018.",
                ),
            ],
            "2018-03-31",
            "red",
        ),
        _action(
            1,
            k[1],
            "help and protection",
            "Strategy discussions and section 47 enquiries are timely and include the police"
            " and health.",
            "Head of Service, Children in Need & Child Protection",
            "Weekly performance clinic on section 47 timeliness; joint protocol with the"
            " Metropolitan Police.",
            [
                (
                    "2017-11-20",
                    "Section 47 enquiries completed within 15 working days rose from"
                    " 61% to 74% in November.",
                )
            ],
            "2018-02-28",
            "amber",
        ),
        _action(
            2,
            k[2],
            "looked after children",
            "Decisions to start care proceedings are made without drift, within the Public Law"
            " Outline timescales.",
            "Head of Service, Looked After Children",
            "Tracking panel for every child in pre-proceedings; legal gateway meetings weekly.",
            [("2017-11-14", "Tracking panel started; 58 children reviewed.")],
            "2018-01-31",
            "amber",
        ),
        _action(
            3,
            k[3],
            "management oversight",
            "Every case file shows a recorded management decision at each key point.",
            "Head of Quality Assurance & Practice Improvement",
            "Management oversight standard issued; monthly dip sampling of 10% of cases.",
            [
                ("2017-10-16", "Standard drafted with team managers."),
                ("2017-11-23", "First dip sample: 64% of files met the standard (target 80%)."),
            ],
            "2018-03-31",
            "amber",
        ),
        _action(
            4,
            k[4],
            "workforce",
            "Average social work caseload at or below 18 children across assessment and"
            " safeguarding teams.",
            "Head of Workforce Development",
            "Recruit 30 additional social workers; agency conversion offer; caseload dashboard.",
            [
                (
                    "2017-11-29",
                    "22 of 30 posts filled; average caseload 21.4 (was 26.0 in September).",
                )
            ],
            "2018-04-30",
            "amber",
        ),
        _action(
            5,
            k[5],
            "workforce",
            "Children keep the same social worker from assessment to the end of their plan"
            " wherever possible.",
            "Head of Workforce Development",
            "Introduce allocation rules; exit interviews for every leaver.",
            [],
            "2018-06-30",
            None,
        ),
        _action(
            6,
            k[6],
            "looked after children",
            "A re-launched Corporate Parenting Panel with a pledge agreed with the Children in"
            " Care Council.",
            "Head of Service, Looked After Children",
            "Elected member training; new panel terms of reference; pledge co-produced with"
            " young people.",
            [
                ("2017-10-05", "Member training delivered to 41 councillors."),
                ("2017-11-09", "Pledge agreed with the Children in Care Council."),
            ],
            "2017-11-30",
            "complete",
        ),
        _action(
            7,
            k[7],
            "early help",
            "A single early help offer understood by schools, health and the police, with a"
            " shared front door.",
            "Head of Early Help",
            "Publish the early help strategy; integrate the early help hub with the MASH.",
            [
                (
                    "2017-11-17",
                    "Strategy out for consultation with the partnership until 15 December.",
                )
            ],
            "2018-03-31",
            "green",
        ),
        _action(
            8,
            k[8],
            "leadership",
            "Senior leaders see front-line practice directly every month and act on what they"
            " find.",
            "Executive Director (People)",
            "Monthly practice weeks; director-led case audits; fortnightly performance board.",
            [
                (
                    "2017-11-06",
                    "First practice week held; findings reported to the Improvement Board.",
                )
            ],
            "2017-12-31",
            "green",
        ),
        _action(
            9,
            k[9],
            "LSCB",
            "The Board hears directly from children and evaluates front-line practice through"
            " multi-agency audit.",
            "Independent Chair, Croydon Safeguarding Children Board",
            "Multi-agency audit programme; young people's reference group.",
            [("2017-11-21", "Audit programme for 2018 agreed.")],
            "2018-03-31",
            "green",
        ),
        _action(
            10,
            k[10],
            "LSCB",
            "A Board business plan with clear priorities and a challenge log reviewed at every"
            " meeting.",
            "Independent Chair, Croydon Safeguarding Children Board",
            "New business plan; challenge log; review of sub-group structure.",
            [],
            None,
            "red",
        ),
    ]


def rag_counts(actions: list[dict[str, Any]]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """RAG counts by theme and in total, as the snapshot builder is expected to compute them."""
    by_theme: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(_RAG_KEYS, 0)
    for action in actions:
        key = action.get("status") or "not_rated"
        theme = by_theme.setdefault(action.get("theme") or "other", dict.fromkeys(_RAG_KEYS, 0))
        theme[key] += 1
        totals[key] += 1
    return by_theme, totals


def _rules_appendix(milestones: list[dict[str, Any]]) -> list[dict[str, Any]]:
    notes = {
        "sif.publish_report": "Text of the regulation is clear; the counting convention is"
        " inferred from published deadlines.",
        "sif.written_statement_of_action": "Arithmetic verified on published deadlines"
        " (Croydon 2017, Bromley 2016, Tower Hamlets 2017).",
        "sif.action_planning_visit": 'The handbook says "between 25 and 35 days" without a'
        " unit; treated as working days and flagged until verified.",
        "sif.first_monitoring_visit": '"Usually within four weeks of the submission deadline'
        ' for the action plan": a soft target.',
        "sif.monitoring_visit": "About three months after the previous visit, forecast from its"
        " actual date once recorded; until the re-inspection.",
        "sif.monitoring_audits_due": '"At least three working days before" the visit: the'
        " latest permitted day is shown.",
        "sif.reinspection": '"Within two years of submitting its action plan": a soft target,'
        " not a statutory deadline.",
        "dfe_intervention.commissioner_report": "Croydon 2017: appointed 4 September 2017,"
        " reports in three months.",
        "dfe_intervention.dfe_review": "Every six months while intervention lasts (shown for"
        " two years).",
        "local.share_draft_plan": "Local target set by the Improvement Board; not a statutory"
        " or regulatory deadline.",
    }
    titles = {
        "sif.first_monitoring_visit": "First Ofsted monitoring visit",
        "sif.monitoring_visit": "Quarterly Ofsted monitoring visit",
        "dfe_intervention.dfe_review": "DfE intervention adviser's progress review",
        "sif.monitoring_audits_due": "Return the case audits requested for the monitoring visit",
    }
    seen: dict[str, dict[str, Any]] = {}
    for m in milestones:
        if m["rule"] not in seen:
            seen[m["rule"]] = {
                "rule": m["rule"],
                "title": titles.get(m["rule"], m["title"]),
                "source": m["source"],
                "confidence": m["confidence"],
                "notes": notes.get(m["rule"]),
            }
    return list(seen.values())


def sample_snapshot() -> dict[str, Any]:
    """The pack for the Children's Service Improvement Board meeting of Thursday 14 December 2017.

    Returns a new dict each call, so callers may modify it freely.
    """
    as_of = date(2017, 12, 7)
    milestones = _milestones()
    by_id = {m["id"]: m for m in milestones}
    horizon = (as_of + timedelta(days=90)).isoformat()
    next_90 = [
        m
        for m in milestones
        if as_of.isoformat() <= m["due"] <= horizon and m["status"] in ("upcoming", "due")
    ]
    overdue = [m for m in milestones if m["status"] in ("overdue", "missed")]
    actions = _actions()
    by_theme, totals = rag_counts(actions)
    count = {s: sum(1 for m in milestones if m["status"] == s) for s in ("met", "missed")}
    wsa = by_id["written_statement_of_action"]
    snapshot: dict[str, Any] = {
        "schema": 1,
        "council": {"name": "London Borough of Croydon", "dfe_code": "306"},
        "board": {
            "name": "Children's Service Improvement Board",
            "chair": "Edwina Grant OBE",
            "meeting_date": "2017-12-14",
            "cadence": "monthly",
        },
        "period": {"start": "2017-11-01", "end": "2017-11-30", "label": "November 2017"},
        "as_of": as_of.isoformat(),
        "generated_at": "2017-12-07T07:00:00+00:00",
        "version": 1,
        "inspection": {
            "framework": "sif",
            "title": "Inspection of services for children in need of help and protection,"
            " children looked after and care leavers; and review of the effectiveness of the"
            " Local Safeguarding Children Board",
            "published": "2017-09-04",
            "received": None,
            "anchor": {"date": "2017-09-04", "kind": "publication"},
            "judgements": {
                "overall": "inadequate",
                "help_and_protection": "inadequate",
                "looked_after_and_permanence": "inadequate",
                "adoption_performance": "requires_improvement",
                "care_leavers": "requires_improvement",
                "leadership_management_governance": "inadequate",
            },
            "lscb_review": "inadequate",
        },
        "judgement_history": [
            {"published": "2012-03-16", "framework": "slac2009", "overall": "adequate"},
            {"published": "2017-09-04", "framework": "sif", "overall": "inadequate"},
        ],
        "headline": {
            "next_deadline": {
                "id": wsa["id"],
                "title": wsa["title"],
                "due": wsa["due"],
                "working_days_left": 2,
            },
            "overdue_count": sum(1 for m in milestones if m["status"] == "overdue"),
            "missed_count": count["missed"],
            "met_count": count["met"],
            "upcoming_count": sum(1 for m in milestones if m["status"] in ("upcoming", "due")),
        },
        "milestones": milestones,
        "next_90_days": next_90,
        "overdue_and_missed": overdue,
        "actions": actions,
        "rag_by_theme": by_theme,
        "rag_totals": totals,
        "changes_since_previous": {
            "previous_version_date": "2017-11-09",
            "new": [{"id": "share_draft_plan", "title": by_id["share_draft_plan"]["title"]}],
            "moved": [
                {
                    "id": "first_monitoring_visit",
                    "title": "First Ofsted monitoring visit",
                    "old_due": "2017-11-27",
                    "new_due": "2018-01-08",
                }
            ],
            "completed": [
                {"id": "commissioner_report", "title": by_id["commissioner_report"]["title"]}
            ],
            "rag_changes": [
                {"recommendation": 3, "old": "red", "new": "amber"},
                {"recommendation": 6, "old": "green", "new": "complete"},
            ],
        },
        "monitoring_visits": [
            {"id": "first_monitoring_visit", "due": "2018-01-08", "actual": None, "findings": None},
            {"id": "monitoring_visit_2", "due": "2018-04-08", "actual": None, "findings": None},
        ],
        "intervention": {
            "direction": "2017-09-04",
            "commissioner": "Eleanor Brazil",
            "independent_chair": None,
            "adviser": None,
            "status_text": (
                "The Commissioner's three-month report to the Minister for Children and"
                " Families was submitted on Friday 1 December 2017. The Minister's decision on"
                " the future arrangements for the service is awaited."
            ),
        },
        "rules_appendix": _rules_appendix(milestones),
    }
    return copy.deepcopy(snapshot)
