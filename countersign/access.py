"""Who may see member data: one table, asked by every page and export that shows any.

The README's "Roles and who sees member data" table is this one. Member data means names, e-mail
addresses and the roster's extra columns; member numbers are the pseudonymous key the
records use (the ledger, the audit log) and are not counted as member data here.

Auditors check the records, not the people in them: counts, hashes, Message-IDs, states,
member numbers. Every download of member data is an audit entry (who, what, which campaign
or roster, format, rows).
"""

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from countersign.roles import Role, roles_of


class Data(models.TextChoices):
    MEMBER_ROWS = "member_rows", _("Member rows of a roster (names, addresses, columns)")
    RENDERED_MESSAGES = "rendered_messages", _("Messages rendered for members (previews)")
    LEDGER_ADDRESSES = "ledger_addresses", _("Delivery ledger with addresses")
    INCIDENT_REPORT = "incident_report", _("Incident report with names and addresses")
    INCIDENT_SUMMARY = "incident_summary", _("Incident report without member data")
    MEMBER_MAIL = "member_mail", _("Member mail in the demo inbox")
    AUDIT_LOG = "audit_log", _("Audit log and its payloads (no member data)")
    ROSTER_METADATA = "roster_metadata", _("Roster metadata (file, hash, counts, columns)")


_CAMPAIGN_PEOPLE = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.OBSERVER})

# What each role may see. The contractor's operator and supervisor work with the roster the
# association handed over; the association's observer owns it. The incident report with
# member data is for the two who answer for an incident: the supervisor and the
# association's observer (the association writes to the members from it).
POLICY: dict[str, frozenset[str]] = {
    Data.MEMBER_ROWS: _CAMPAIGN_PEOPLE,
    Data.RENDERED_MESSAGES: _CAMPAIGN_PEOPLE,
    Data.LEDGER_ADDRESSES: _CAMPAIGN_PEOPLE,
    Data.INCIDENT_REPORT: frozenset({Role.SUPERVISOR, Role.OBSERVER}),
    Data.INCIDENT_SUMMARY: frozenset({Role.SUPERVISOR, Role.OBSERVER, Role.AUDITOR}),
    Data.MEMBER_MAIL: _CAMPAIGN_PEOPLE,
    Data.AUDIT_LOG: frozenset({Role.AUDITOR}),
    Data.ROSTER_METADATA: frozenset({*_CAMPAIGN_PEOPLE, Role.AUDITOR}),
}


def may_see(user, what: str) -> bool:
    return bool(roles_of(user) & POLICY[what])


def require(user, what: str) -> None:
    if not may_see(user, what):
        raise PermissionDenied


def roles_for(what: str) -> tuple[str, ...]:
    """For role_required(): the roles the table lets through."""
    return tuple(sorted(POLICY[what]))


def table() -> list[tuple[str, dict[str, bool]]]:
    """The policy as rows (what, {role: allowed}), for the README check and a page."""
    return [(str(Data(what).label), {role: role in roles for role in Role.values})
            for what, roles in POLICY.items()]


# A search may name a member (a name, an address): it comes in a POST's body, never in a
# URL, which the web server's and proxies' access logs, the browser's history and the next
# page's Referer keep where erasure cannot reach. A "q" in a URL is not read.
def search_query(request) -> str:
    return request.POST.get("q", "").strip()[:200] if request.method == "POST" else ""


def page_number(request) -> str | None:
    """The page asked for: a search's next page is asked with its query, by POST too."""
    return (request.POST if request.method == "POST" else request.GET).get("page")
