"""Rules on what a campaign's content may be. Forms show them; the workflow enforces them."""

from django.conf import settings
from django.utils.translation import gettext as _

from campaigns import mail
from campaigns.models import Kind
from countersign.text import CONTROL


def allowed_senders() -> list[str]:
    return list(settings.CAMPAIGN_SENDERS)


def content_problems(*, roster, sender: str, subject: str, body_text: str,
                     body_html: str, kind: str = Kind.NOTICE) -> dict[str, list[str]]:
    """Field name -> messages. Empty when the content may be saved."""
    problems: dict[str, list[str]] = {}

    def add(field, message):
        problems.setdefault(field, []).append(message)

    limits = (("subject", subject, settings.CAMPAIGN_MAX_SUBJECT_CHARS),
              ("body_text", body_text, settings.CAMPAIGN_MAX_BODY_CHARS),
              ("body_html", body_html, settings.CAMPAIGN_MAX_HTML_CHARS))
    for field, text, limit in limits:
        if len(text) > limit:
            add(field, _("This is %(length)s characters long; the limit is %(limit)s.")
                % {"length": f"{len(text):,}", "limit": f"{limit:,}"})
    if problems:  # nothing else is read in an oversized text
        return problems
    if mail.html_depth(body_html) > mail.MAX_HTML_DEPTH:  # before the sanitiser reads it
        add("body_html", _("The HTML nests elements more than %(limit)s deep (tags opened and "
                           "never closed?); a message needs far fewer.")
            % {"limit": mail.MAX_HTML_DEPTH})
        return problems
    if sender not in allowed_senders():
        add("sender", _("Choose one of the configured sender addresses."))
    if "\n" in subject or "\r" in subject:
        add("subject", _("The subject must be a single line (no line breaks)."))
    if not subject.strip():
        add("subject", _("The subject is empty."))
    if not body_text.strip():
        add("body_text", _("The plain-text body is empty."))
    for field, text in (("subject", subject), ("body_text", body_text),
                        ("body_html", body_html)):
        # ESC would switch ISO-2022-JP into kanji: ASCII letters after it would arrive as a
        # member's name that neither the guard nor a signer ever saw.
        hidden = CONTROL.search(text)
        if hidden:
            line, column = mail.line_column(text, hidden.start())
            add(field, _("A control character (%(code)s) at line %(line)s, column %(column)s: "
                         "it does not show, and mail programs act on it. Remove it.")
                % {"code": f"U+{ord(hidden.group()):04X}", "line": line, "column": column})
    fields = mail.fields_for(roster.extra_columns if roster is not None else (), kind)
    available = ", ".join("{" + f + "}" for f in fields)
    for field, template in (("subject", subject), ("body_text", body_text),
                            ("body_html", body_html)):
        for problem in mail.template_problems(template, fields):
            where = {"line": problem.line, "column": problem.column, "text": problem.text}
            if problem.code == "unknown":
                add(field, _("Unknown placeholder %(text)s at line %(line)s, column %(column)s. "
                             "Available: %(available)s.") % {**where, "available": available})
            elif problem.code == "empty":
                add(field, _("Empty placeholder {} at line %(line)s, column %(column)s.") % where)
            else:
                add(field, _("A lone “%(text)s” at line %(line)s, column %(column)s: write "
                             "{{ or }} for a literal brace.") % where)
    return problems
