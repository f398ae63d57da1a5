"""Labels of stored codes: each app registers its own tables, pages ask by table name."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template
from django.utils import translation

from countersign import labels


@pytest.mark.parametrize("table, code, english", [
    ("ROLE", "auditor", "Auditor"),
    ("ORGANISATION", "association", "Association (data owner)"),
    ("VOID_REASONS", "edited", "the content was edited"),
    ("CANARY", "not reached", "not reached"),
    ("COMPLIANCE_FLAGS", "hashes_match", "approved, released and sent hashes differ"),
    ("OUTCOMES", "accepted", "sent (accepted by the mail server)"),
    ("VERIFY_FAILURES", "altered", "the content does not match its hash: the entry was altered"),
])
def test_each_app_registers_the_labels_of_its_own_codes(table, code, english):
    with translation.override("en"):
        assert str(labels.label(table, code)) == english
    with translation.override("ja"):
        japanese = str(labels.label(table, code))
    assert japanese != english and japanese.strip()


def test_the_template_filters_read_the_registry():
    template = Template('{% load countersign_tags %}{{ code|label:"OUTCOMES" }} / '
                        '{{ flags|labels:"COMPLIANCE_FLAGS"|join:", " }}')
    with translation.override("en"):
        text = template.render(Context({"code": "not_sent", "flags": ["never_started"]}))
    assert text == "not sent / never started"


def test_a_code_without_a_label_shows_as_itself():
    assert labels.label("OUTCOMES", "a code from the future") == "a code from the future"
    assert labels.label("ROLE", "") == ""


def test_an_unknown_table_fails_loudly():
    with pytest.raises(LookupError, match="no label table 'OUTCOME'"):
        labels.label("OUTCOME", "accepted")


def test_a_second_table_under_a_taken_name_is_refused():
    from campaigns.labels import OUTCOMES

    assert labels.register("OUTCOMES", OUTCOMES) is OUTCOMES  # the same table again: fine
    with pytest.raises(ImproperlyConfigured, match="'OUTCOMES' is already registered"):
        labels.register("OUTCOMES", {"accepted": "got it"})
    assert labels.label("OUTCOMES", "accepted") == OUTCOMES["accepted"]

