"""A council's name as people say it: "Croydon" for "London Borough of Croydon".

Used where space is short (an email subject) and the full name is shown elsewhere. One place,
so that every short name is made the same way. Pure.
"""

from __future__ import annotations

import re

# The legal form around the place name, as England's councils write it (GOV.UK's list of local
# authorities): "London Borough of X", "Royal Borough of X", "City of X Council",
# "Council of the Isles of Scilly", "X County Council", "X Metropolitan Borough Council"...
_PREFIX = re.compile(
    r"^(?:the\s+)?(?:council\s+of\s+the\s+|(?:london|royal)\s+borough\s+of\s+|"
    r"metropolitan\s+borough\s+of\s+|borough\s+of\s+|city\s+of\s+|county\s+of\s+)",
    re.IGNORECASE,
)
_SUFFIX = re.compile(
    r"\s+(?:(?:metropolitan\s+)?borough|county|city|district)?\s*council$", re.IGNORECASE
)


def short_council_name(name: str) -> str:
    """The place name without the council's legal form; ``name`` itself if nothing is left.

    >>> short_council_name("London Borough of Croydon")
    'Croydon'
    >>> short_council_name("Demoford Metropolitan Borough Council")
    'Demoford'
    >>> short_council_name("City of York Council")
    'York'
    >>> short_council_name("Council of the Isles of Scilly")
    'Isles of Scilly'
    """
    text = " ".join(name.split())
    short = _SUFFIX.sub("", _PREFIX.sub("", text)).strip(" ,")
    return short or text
