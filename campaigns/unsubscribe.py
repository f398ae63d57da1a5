"""Newsletters: the footer they must carry, the per-recipient unsubscribe link and headers
(RFC 2369 List-Unsubscribe, RFC 8058 one-click), and what an unsubscribe does.

The token in a link names one delivery and is signed (HMAC over the delivery id with a key
derived from SECRET_KEY). It is written in letters only: the content guard reads digits
as member numbers, and a token is no member's data. An unsubscribe puts the address's
pseudonym on the suppression list (campaigns.suppression), so it holds after the roster is
re-imported and after the member data is purged.
"""

import re

from django.conf import settings
from django.utils import translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from campaigns import mail, suppression
from campaigns.models import Delivery, Kind
from countersign.signing import signed_by_a_current_key
from roster import member_data
from roster.models import Suppression

_SALT = "countersign.unsubscribe"
_LETTERS = str.maketrans("0123456789abcdef", "ghjkmnpqrstuvwxy")
_HEX = str.maketrans("ghjkmnpqrstuvwxy", "0123456789abcdef")
PREVIEW_TOKEN = mail.PREVIEW_UNSUBSCRIBE_TOKEN
PLACEHOLDER = "unsubscribe_url"


def token_for(delivery_id: int, secret: str | None = None) -> str:
    signature = salted_hmac(_SALT, str(delivery_id), secret=secret).hexdigest()[:32]
    return f"{delivery_id:x}".translate(_LETTERS) + "z" + signature.translate(_LETTERS)


def delivery_id_of(token: str) -> int | None:
    """The delivery a token names, or None if it is not one of ours (forged, cut short).
    Links in mail already sent keep working after SECRET_KEY is rotated the Django way (the
    old key in SECRET_KEY_FALLBACKS)."""
    head, z, signature = token.partition("z")
    if not z or not head or len(signature) != 32 or not (head + signature).isalpha():
        return None
    try:
        delivery_id = int(head.translate(_HEX), 16)
    except ValueError:
        return None
    if signed_by_a_current_key(token, lambda key: token_for(delivery_id, key)):
        return delivery_id
    return None


def mailto_address(sender: str) -> str:
    """Where a mail reader's "unsubscribe" mail goes: UNSUBSCRIBE_MAILTO; else unsubscribe@
    the bounce domain, whose mail process_bounces reads (campaigns.bounces); else the
    sender's domain's unsubscribe@ mailbox, read by a person."""
    if settings.UNSUBSCRIBE_MAILTO:
        return settings.UNSUBSCRIBE_MAILTO
    domain = (settings.BOUNCE_DOMAIN
              or sender.rpartition("@")[2].rstrip(">").strip() or "localhost")
    return f"unsubscribe@{domain}"


def headers_for(*, kind: str, sender: str, delivery_id: int) -> dict[str, str]:
    """The unsubscribe headers a newsletter's message carries (none for a notice)."""
    if kind != Kind.NEWSLETTER:
        return {}
    token = token_for(delivery_id)
    return {"List-Unsubscribe": f"<{mail.unsubscribe_url(token)}>, "
                                f"<mailto:{mailto_address(sender)}?subject=unsubscribe%20{token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def values_for(*, kind: str, delivery_id: int) -> dict[str, str]:
    """The {unsubscribe_url} placeholder's value in the message to one recipient."""
    if kind != Kind.NEWSLETTER:
        return {}
    return {PLACEHOLDER: mail.unsubscribe_url(token_for(delivery_id))}


def footer_lines() -> list[str]:
    """What a newsletter's footer must hold: who sends it, their postal address, how to
    reach them (settings), and the unsubscribe link."""
    return [settings.ASSOCIATION_NAME, settings.ASSOCIATION_POSTAL_ADDRESS,
            settings.ASSOCIATION_CONTACT]


def footer_example() -> str:
    """The footer, in the members' language (the site's LANGUAGE_CODE, in which the app's
    own mail is written too), whatever language the operator's page is in: the draft
    form's button inserts it."""
    with translation.override(settings.LANGUAGE_CODE):
        return "\n".join(["--", *footer_lines(),
                          _("To stop receiving this newsletter: %(link)s")
                          % {"link": "{" + PLACEHOLDER + "}"}])


def _compact(text: str) -> str:
    return "".join(text.split())


_TAG = re.compile(r"<!--.*?(?:-->|\Z)|<[^<>]*>", re.DOTALL)
_HREF = re.compile(r"""<a\b[^<>]*\bhref\s*=\s*["']?\s*\{\s*unsubscribe_url\s*\}""",
                   re.IGNORECASE)


def _link_in_html(body_html: str) -> bool:
    """The link is a link's target or readable text; not a tooltip, not in a comment."""
    if _HREF.search(_TAG.sub(lambda m: m.group(0) if m.group(0).startswith("<a") else " ",
                             body_html)):
        return True
    return PLACEHOLDER in mail.used_fields(_TAG.sub(" ", body_html))


def footer_problems(*, body_text: str, body_html: str) -> dict[str, list[str]]:
    """Why a newsletter's bodies lack the footer (field -> messages); empty when they hold
    it. The plain body must hold all of it; an HTML body, the unsubscribe link too."""
    problems: dict[str, list[str]] = {}
    if not all(line.strip() for line in footer_lines()):
        problems["body_text"] = [_(
            "Newsletters need the association's name, postal address and contact in the "
            "settings (ASSOCIATION_NAME, ASSOCIATION_POSTAL_ADDRESS, ASSOCIATION_CONTACT).")]
        return problems
    placeholder = "{" + PLACEHOLDER + "}"
    missing = [line for line in footer_lines() if _compact(line) not in _compact(body_text)]
    if PLACEHOLDER not in mail.used_fields(body_text):  # "{{unsubscribe_url}}" is text
        missing.append(placeholder)
    if missing:
        problems["body_text"] = [_(
            "A newsletter must end with a footer giving the sender's name, postal address, "
            "contact and an unsubscribe link. Missing: %(missing)s. For example:\n%(footer)s")
            % {"missing": "; ".join(missing), "footer": footer_example()}]
    if body_html.strip() and not _link_in_html(body_html):
        problems["body_html"] = [_("The HTML body of a newsletter must carry the unsubscribe "
                                   "link too: %(placeholder)s.") % {"placeholder": placeholder}]
    return problems


def _delivery(token: str):
    """The handed-over newsletter message a token names, or None (forged, preview, never
    sent, or its address erased)."""
    delivery_id = delivery_id_of(token)
    delivery = Delivery.objects.filter(pk=delivery_id, campaign__kind=Kind.NEWSLETTER).only(
        "pk", "campaign_id", "member_id", "address_pseudonym", "state", "message_id").first(
    ) if delivery_id else None
    if delivery is None or not delivery.address_pseudonym or not delivery.was_handed_over:
        return None
    return delivery


def address_hint(address: str) -> str:
    """An address with its local part hidden but its first letter ("m…@example.jp"): enough
    for the member to know which address the page is about, little for anyone the link
    was forwarded to."""
    local, at, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}" if at and local else ""


def subscription(token: str) -> dict | None:
    """What the unsubscribe page shows for a token: the address (partly hidden; "" once the
    member's data was erased) and whether it is unsubscribed now. None: not one of ours."""
    delivery = _delivery(token)
    if delivery is None:
        return None
    values = member_data.values_of([delivery.member_id]).get(delivery.member_id) \
        if delivery.member_id else None
    return {"address": address_hint(values.email) if values else "",
            "unsubscribed": Suppression.objects.filter(
                pseudonym=delivery.address_pseudonym,
                reason=Suppression.Reason.UNSUBSCRIBED).exists()}


def resubscribe(token: str, *, via: str) -> bool | None:
    """Undo an unsubscribe, from the page (a POST). True: undone; False: it was not
    unsubscribed; None: a token that is not one of ours."""
    delivery = _delivery(token)
    if delivery is None:
        return None
    return suppression.resubscribe(pseudonym=delivery.address_pseudonym,
                                   source=f"unsubscribe:{via}",
                                   campaign_id=delivery.campaign_id)


def unsubscribe(token: str, *, via: str) -> bool | None:
    """Suppress the address a token names, for newsletters, at once (audited). `via`:
    "one-click" (a mail reader's POST), "page" (the confirm button) or "mail" (a mail
    reader's mail to the mailto: address). True: suppressed now; False: it already was;
    None: a token that is not one of ours or the preview example (nothing happens)."""
    delivery = _delivery(token)
    if delivery is None:
        return None
    return suppression.suppress(reason=Suppression.Reason.UNSUBSCRIBED,
                                source=f"unsubscribe:{via}", pseudonym=delivery.address_pseudonym,
                                campaign_id=delivery.campaign_id, system="unsubscribe")
