"""Which Japanese mobile carrier an address belongs to: the group the relay paces it in.

The domains are the transport map of the Postfix relay profile (docs/relay-carriers.md,
kept equal to this table by tests/test_relay_profile.py): a member's mail to docomo goes
through the relay's `jp_docomo` transport, and the campaign page counts it under docomo.
A group is a coarse fact about an address (one of four), kept on the member row at import
and copied to the ledger, so that counting per carrier reads no member data.
"""

from django.utils.translation import gettext_lazy as _

from countersign.pseudonyms import normalise_address

DOCOMO, AU, SOFTBANK, OTHER = "docomo", "au", "softbank", "other"

# group -> (domains, whether their subdomains belong too), as the profile's transport map.
DOMAINS = {
    DOCOMO: (("docomo.ne.jp", True),),
    AU: (("ezweb.ne.jp", True), ("au.com", True), ("uqmobile.jp", False)),
    SOFTBANK: (("softbank.ne.jp", True), ("i.softbank.jp", False), ("ymobile.ne.jp", False),
               ("vodafone.ne.jp", None)),  # None: its subdomains only
}
GROUPS = ((DOCOMO, _("docomo")), (AU, _("au (KDDI)")), (SOFTBANK, _("SoftBank")),
          (OTHER, _("Other domains")))


def group_of(address: str) -> str:
    """docomo, au, softbank or other; "" for an empty address."""
    domain = normalise_address(address).rpartition("@")[2].rstrip(".")
    if not domain:
        return ""
    for group, domains in DOMAINS.items():
        for name, subdomains in domains:
            if (domain == name and subdomains is not None) or (
                    subdomains is not False and domain.endswith("." + name)):
                return group
    return OTHER
