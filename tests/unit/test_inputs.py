"""The input rules every entry point shares (statutory_clock.inputs)."""

from __future__ import annotations

import re
import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statutory_clock.dates import parse_iso_date
from statutory_clock.inputs import (
    CASE_FILE_TEXT,
    MULTI_LINE_PATTERN,
    SINGLE_LINE_PATTERN,
    Email,
    InputError,
    Text,
    Whole,
    check_depth,
    parse_day,
    parse_month,
    printable,
    shown,
)

# Characters no one-line field may hold, with what the message calls them.
FORBIDDEN = {
    "\r": "line break (CR)",
    "\n": "line break (LF)",
    "\x00": "NUL",
    "\t": "tab",
    "\x07": "control character (U+0007)",
    "\x1b": "escape character",
    "\x7f": "control character (U+007F)",
    "\x85": "control character (U+0085)",  # C1: NEXT LINE
    "\x9b": "control character (U+009B)",  # C1: the one-byte ANSI escape
    "\u202a": "bidirectional override (U+202A)",
    "\u202b": "bidirectional override (U+202B)",
    "\u202c": "bidirectional override (U+202C)",
    "\u202d": "bidirectional override (U+202D)",
    "\u202e": "bidirectional override (U+202E)",
    "\u2066": "bidirectional override (U+2066)",
    "\u2067": "bidirectional override (U+2067)",
    "\u2068": "bidirectional override (U+2068)",
    "\u2069": "bidirectional override (U+2069)",
    "\u200b": "invisible format character (U+200B)",
    "\u200d": "invisible format character (U+200D)",
    "\u200e": "invisible format character (U+200E)",
    "\u00ad": "invisible format character (U+00AD)",
    "\u2060": "invisible format character (U+2060)",
    "\ufeff": "invisible format character (U+FEFF)",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\ud800": "lone surrogate",
}
# Text people really write: accents, Welsh, apostrophes and dashes, other spaces, emoji.
FINE = [
    "London Borough of Croydon",
    "Ynys Môn / Isle of Anglesey",
    "Cllr. Siân O’Neill – Chair",
    "Bro Morgannwg\u00a0(Vale of Glamorgan)",
    "Zoë Brontë-Smith 🙂",
    "",
]


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_single_line_text_refuses_control_and_format_characters(char):
    with pytest.raises(InputError) as caught:
        Text(200).check("local_authority.name", f"Croydon{char}Council")
    message = str(caught.value)
    assert message.startswith("local_authority.name: 'Croydon")
    assert FORBIDDEN[char] in message and "one line" in message
    assert message.isprintable(), "the message itself must not carry the character"


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_multi_line_text_allows_only_line_feeds_and_tabs(char):
    rule = Text(10_000, multi_line=True)
    if char in "\n\t":
        assert rule.check("notes", f"First line{char}second line") == f"First line{char}second line"
    else:
        with pytest.raises(InputError, match=re.escape(FORBIDDEN[char])):
            rule.check("notes", f"First line{char}second line")


@pytest.mark.parametrize("text", FINE)
def test_ordinary_text_is_accepted_unchanged(text):
    assert Text(200).check("name", text) == text
    assert Text(200, multi_line=True).check("notes", text) == text


def test_lengths_are_counted_in_characters_and_the_value_is_shortened_in_the_message():
    assert Text(200).check("name", "é" * 200) == "é" * 200
    with pytest.raises(InputError) as caught:
        Text(200).check("local_authority.name", "x" * 10_000_000)
    message = str(caught.value)
    assert "(10,000,000 characters) is too long: at most 200 characters are allowed" in message
    assert len(message) < 200


EMAILS_OK = [
    "pat@example.com",
    "programme.manager@localhost",  # run.sh's default programme manager
    "statclock@localhost",
    "democracy@buckscc.gov.uk",
    "kay.weiss@bromley.gov.uk",
    "pm@exampleshire.example",
    "someone@reminders.test",
    "first.last+tag@sub.example.org",
]
EMAILS_BAD = {
    "pat@example.com\n": "line break (LF)",
    "pat@example.com\r\nBcc: all@example.com": "line break (CR)",
    "Pat <pat@example.com>": "display name",
    "pat@example.com, other@example.com": "not a valid e-mail address",
    "pat@@example.com": "not a valid e-mail address",
    "pat": "not a valid e-mail address",
    "@example.com": "something before the @-sign",
    "pat@": "not a valid e-mail address",
    "pat@[127.0.0.1]": "bracketed IP address",
    '"pat"@example.com': "Quoting",
    "pat..smith@example.com": "two full stops in a row",
    "pat@example.com.": "full stop",
    "josé@example.com": "plain ASCII",
    "pat@exаmple.com": "plain ASCII",  # a Cyrillic а: a look-alike domain
    "pat@\u202eexample.com": "bidirectional override",
    "p" * 290 + "@example.com": "too long",
}


@pytest.mark.parametrize("address", EMAILS_OK)
def test_real_and_reserved_addresses_are_accepted(address):
    assert Email().check("contacts[0].email", address) == address


@pytest.mark.parametrize("address", EMAILS_BAD, ids=range(len(EMAILS_BAD)))
def test_bad_addresses_are_refused_with_the_reason(address):
    with pytest.raises(InputError) as caught:
        Email().check("contacts[0].email", address)
    assert EMAILS_BAD[address] in str(caught.value)
    assert str(caught.value).startswith("contacts[0].email: ")
    assert str(caught.value).isprintable()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0001-01-01", "outside the dates statclock accepts (1990-01-01 to 2100-12-31)"),
        ("1989-12-31", "outside the dates"),
        ("2101-01-01", "outside the dates"),
        ("9999-12-31", "outside the dates"),
        ("2017-02-30", "not a real calendar date"),
        ("2017-09-04\n", "not a date in the form YYYY-MM-DD"),
        (" 2017-09-04", "not a date in the form YYYY-MM-DD"),
        ("04/09/2017", "not a date in the form YYYY-MM-DD"),
        ("2017-9-4", "not a date in the form YYYY-MM-DD"),
        ("２０１７-09-04", "not a date in the form YYYY-MM-DD"),  # full-width digits match \d
        ("+2017-09-04", "not a date in the form YYYY-MM-DD"),
        ("", "not a date in the form YYYY-MM-DD"),
    ],
)
def test_dates_are_strict_and_within_1990_to_2100(text, problem):
    with pytest.raises(InputError, match=re.escape(problem)):
        parse_day("--published", text)
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_iso_date(text)


def test_the_date_range_includes_its_ends():
    assert parse_day("d", "1990-01-01") == date(1990, 1, 1)
    assert parse_day("d", "2100-12-31") == date(2100, 12, 31)
    assert parse_month("m", "2100-12") == "2100-12"
    for bad in ("1989-12", "2101-01", "2017-13", "2017-00", "2017-1", "2017-01\n"):
        with pytest.raises(InputError):
            parse_month("m", bad)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0, "outside 1 to 999"),
        (-1, "outside 1 to 999"),
        (1000, "outside 1 to 999"),
        (10**30, "outside 1 to 999"),
        (10**5000, "a number of about 5,001 digits is outside 1 to 999"),
        (True, "not a whole number"),
        (1.0, "not a whole number"),
        (float("nan"), "not a whole number"),
        ("3", "not a whole number"),
    ],
    ids=lambda value: shown(value, 20),
)
def test_whole_numbers_are_checked_by_type_and_range(value, problem):
    with pytest.raises(InputError, match=re.escape(problem)):
        Whole(1, 999).check("number", value)


@pytest.mark.parametrize(
    "text", ["0", "-5", "1e3", "1.5", "0x10", "١٢", "9" * 5000, "1" + "0" * 30, " ", "1_000"]
)
def test_whole_numbers_from_text_are_refused_cleanly(text):
    with pytest.raises(InputError) as caught:
        Whole(1, 10_000).parse("number", text)
    assert len(str(caught.value)) < 200


def test_shown_escapes_shortens_and_survives_numbers_too_long_to_print():
    assert shown("a\u202eb\x1b[2J") == "'a\\u202eb\\x1b[2J'"
    assert shown("x" * 100).endswith("...' (100 characters)")
    assert shown(10**5000) == "a number of about 5,001 digits"
    assert printable("field \u202e\n", 80) == "field \\u202e\\x0a"


def test_depth_is_checked_without_recursion():
    deep: list[object] = []
    node = deep
    for _ in range(100_000):
        child: list[object] = []
        node.append(child)
        node = child
    with pytest.raises(InputError, match="nested more than 20 levels deep"):
        check_depth({"inspection": deep})
    check_depth({"a": [[{"b": 1}]]})


def test_every_rule_names_a_field_of_the_schema():
    """The rules table and the schema describe the same fields: a rule for a field the
    schema does not have would be a typo that silently falls back to the default."""
    import json
    from importlib import resources

    schema = json.loads(
        resources.files("statutory_clock.store").joinpath("casefile.schema.json").read_text()
    )

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def exists(node: dict, parts: list[str]) -> bool:
        node = resolve(node)
        if not parts:
            return True
        for branch in node.get("oneOf", []):
            if exists(branch, parts):
                return True
        part, rest = parts[0], parts[1:]
        if part == "[]":
            return "items" in node and exists(node["items"], rest)
        if part == "*":
            extra = node.get("additionalProperties")
            return isinstance(extra, dict) and exists(extra, rest)
        return part in node.get("properties", {}) and exists(node["properties"][part], rest)

    for shape in CASE_FILE_TEXT:
        parts = re.findall(r"\[\]|[^.\[\]]+", shape)
        assert exists(schema, parts), shape


# -- properties ----------------------------------------------------------------------------------

BAD_CHARS = st.sampled_from(sorted(set(FORBIDDEN) - {"\n", "\t"}))
ANY_TEXT = st.text(st.characters(codec=None), max_size=60)


@given(before=ANY_TEXT, bad=BAD_CHARS, after=ANY_TEXT)
def test_any_text_with_a_forbidden_character_is_refused(before, bad, after):
    for rule in (Text(500), Text(500, multi_line=True)):
        with pytest.raises(InputError) as caught:
            rule.check("field", before + bad + after)
        assert str(caught.value).isprintable()


@given(value=ANY_TEXT)
def test_whatever_the_text_the_message_is_one_printable_line(value):
    for rule in (Text(20), Text(20, multi_line=True), Email()):
        try:
            assert rule.check("field", value) == value
        except InputError as error:
            assert str(error).isprintable() and len(str(error)) < 400


SAFE = st.text(
    st.characters(categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="\u2028\u2029"),
    max_size=80,
)


@given(value=SAFE)
def test_text_of_letters_marks_numbers_punctuation_and_spaces_is_accepted(value):
    assert Text(80).check("field", value) == value


@settings(max_examples=300)
@given(value=ANY_TEXT)
def test_the_form_patterns_never_refuse_what_the_rules_accept(value):
    """The trigger form's patterns are a first line of defence: they may not be stricter than
    the rules the server applies, or a valid name could not be typed in the form."""
    try:
        Text(1000).check("f", value)
    except InputError:
        pass
    else:
        assert re.search(SINGLE_LINE_PATTERN, value)
    try:
        Text(1000, multi_line=True).check("f", value)
    except InputError:
        pass
    else:
        assert re.search(MULTI_LINE_PATTERN, value)


@pytest.mark.parametrize("char", sorted(set(FORBIDDEN) - {"\ud800"}))
def test_the_form_patterns_refuse_the_known_dangerous_characters(char):
    assert not re.search(SINGLE_LINE_PATTERN, f"a{char}b")
    assert not re.search(SINGLE_LINE_PATTERN, "Croydon\n"), "a trailing newline"
    if char not in "\n\t":
        assert not re.search(MULTI_LINE_PATTERN, f"a{char}b")


@given(st.integers())
def test_whole_numbers_in_range_pass_and_the_rest_are_refused(number):
    rule = Whole(1, 10_000)
    if 1 <= number <= 10_000:
        assert rule.check("n", number) == number
        assert rule.parse("n", str(number)) == number
    else:
        with pytest.raises(InputError):
            rule.check("n", number)


@given(st.dates())
def test_any_date_is_accepted_exactly_when_it_is_in_range(day):
    text = day.isoformat()
    if date(1990, 1, 1) <= day <= date(2100, 12, 31):
        assert parse_day("d", text) == day
    else:
        with pytest.raises(InputError, match="outside the dates statclock accepts"):
            parse_day("d", text)


def test_printable_keeps_ordinary_text():
    text = string.ascii_letters + " -'’é"
    assert printable(text) == text
