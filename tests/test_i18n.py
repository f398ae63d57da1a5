"""Every page speaks Japanese: no English left in a page rendered in ja, apart from data."""

import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns import workflow
from roster.samples import csv_bytes, sample_rows
from tests.factories import (
    client_for,
    free_port,
    make_campaign,
    make_roster,
    released_campaign,
    run_until_done,
)

# Words that are the same in both languages: the product's name, formats, standards.
ALLOWED = ["Countersign", "English", "SHA-256", "Message-ID", "CSV", "Excel", "HTML", "UTF-8",
           "Shift_JIS", "Python", "ID", "OK"]
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ]+[A-Za-z]{2,})+\b")
DATA_TOKEN = re.compile(r"\S*[@./_:<>=\d]\S*")  # addresses, file names, codes, hashes
CHECKED_ATTRIBUTES = ("placeholder", "aria-label", "title", "alt", "data-confirm", "value")
SKIPPED_TAGS = {"script", "style", "code", "pre", "textarea"}  # data and templates


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        attributes = dict(attrs)
        for name in CHECKED_ATTRIBUTES:
            if attributes.get(name) and not (name == "value" and attributes.get("type") not in (
                    "submit", "button")):
                self.chunks.append(attributes[name])

    def handle_endtag(self, tag):
        if tag in SKIPPED_TAGS and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.chunks.append(data)


def _source_strings() -> set[str]:
    """Every English source string that has a Japanese translation."""
    from django.utils.translation import trans_real

    catalog = trans_real.translation("ja")._catalog
    keys = catalog.keys()  # a TranslationCatalog: no iteration of its own
    return {key for key in keys if isinstance(key, str) and catalog[key] != key}


def english_left(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    sources = _source_strings()
    found = []
    for chunk in parser.chunks:
        if chunk.strip() in sources:  # a single untranslated word ("Subject") counts too
            found.append(chunk.strip())
            continue
        text = DATA_TOKEN.sub(" ", chunk)
        for word in ALLOWED:
            text = text.replace(word, " ")
        found += [m.group(0) for m in ENGLISH_RUN.finditer(text)]
    return found


@pytest.fixture
def story(olivia, sam, oscar, audrey, sink, settings, tmp_path):
    """A roster, a draft, a campaign under review, one sent and one held, a pending upload,
    a caught message: something on every page."""
    from countersign import mailcatcher

    settings.MAILCATCHER_INBOX, settings.MAILCATCHER_DIR = True, tmp_path
    roster = make_roster(olivia, count=30)
    draft = make_campaign(olivia, roster, name="下書きの案内")
    review = make_campaign(olivia, roster, name="確認中の案内")
    workflow.submit(campaign=review, user=olivia)
    workflow.reject(campaign=review, user=sam, comment="件名を直してください")
    workflow.edit(campaign=review, user=olivia, subject="{name} 様：改定のお知らせ")
    workflow.submit(campaign=review, user=olivia)  # the review page now shows a diff
    sent = released_campaign(olivia, sam, oscar, roster, canary_enabled=False)
    run_until_done(sent)
    held = released_campaign(olivia, sam, oscar, roster, canary_size=3)
    run_until_done(held)
    client_for(olivia).post(reverse("roster:upload"), {
        "name": "追加名簿", "file": SimpleUploadedFile("m.csv", csv_bytes(sample_rows(3)))})
    settings.EMAIL_PORT = free_port()
    controller = mailcatcher.start(tmp_path, port=settings.EMAIL_PORT)
    workflow.test_send(campaign=draft, user=olivia, member=roster.members.first(),
                       recipients=[sam])
    controller.stop()
    from roster.models import RosterUpload

    return {"roster": roster, "draft": draft, "review": review, "sent": sent, "held": held,
            "upload": RosterUpload.objects.get(), "mail": mailcatcher.caught_files(tmp_path)[0]}


def pages(story):
    r, d, v, s, h = (story[k].pk for k in ("roster", "draft", "review", "sent", "held"))
    upload, mail = story["upload"].pk, story["mail"].name
    table = [  # (user, URL name, *args)
        ("olivia", "home"), ("sam", "home"), ("oscar", "home"), ("audrey", "home"),
        ("olivia", "roster:list"), ("olivia", "roster:detail", r), ("audrey", "roster:detail", r),
        ("olivia", "roster:upload"), ("olivia", "roster:upload_preview", upload),
        ("olivia", "campaigns:list"), ("olivia", "campaigns:create"),
        ("olivia", "campaigns:detail", d), ("olivia", "campaigns:edit", d),
        ("olivia", "campaigns:preview", d),
        ("sam", "campaigns:detail", v), ("sam", "campaigns:review", v),
        ("oscar", "campaigns:detail", s), ("oscar", "campaigns:release", s),
        ("sam", "campaigns:detail", h), ("oscar", "campaigns:observer_dashboard"),
        ("oscar", "campaigns:ledger", s), ("audrey", "audit:log"), ("audrey", "audit:verify"),
        ("audrey", "audit:compliance"), ("audrey", "audit:incident", s),
        ("oscar", "mailbox"), ("oscar", "mailbox_message", mail),
        ("sam", "two_factor"),
    ]
    return [(user, reverse(name, args=args)) for user, name, *args in table]


def test_every_page_in_japanese_has_no_english_left(story, everyone):
    problems = {}
    for user, url in pages(story):
        response = client_for(everyone[user]).get(url, HTTP_ACCEPT_LANGUAGE="ja")
        assert response.status_code == 200, (user, url, response.status_code)
        left = english_left(response.content.decode())
        if left:
            problems[f"{user} {url}"] = sorted(set(left))
    assert problems == {}


def test_the_two_step_pages_are_japanese_too(oscar, settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.TOTP_REQUIRED_ROLES = ["observer"]
    client = client_for(oscar)
    setup = client.get(reverse("two_factor"), HTTP_ACCEPT_LANGUAGE="ja")
    wrong = client.post(reverse("two_factor"), {"code": "12"}, HTTP_ACCEPT_LANGUAGE="ja")
    TOTPDevice.objects.filter(user=oscar).update(confirmed=True)
    verify = client.post(reverse("two_factor_verify"), {"code": "000000"},
                         HTTP_ACCEPT_LANGUAGE="ja")
    for response in (setup, wrong, verify):
        assert response.status_code == 200
        assert english_left(response.content.decode()) == []


def test_the_login_page_is_japanese_too(client):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ja")
    assert english_left(response.content.decode()) == []
    assert "ログイン" in response.content.decode()


def test_the_detector_finds_english(client):
    assert english_left("<p>Log out now</p><input placeholder='Search here'>") == [
        "Log out now", "Search here"]
    assert english_left("<p>olivia@example.jp W000001 campaign.approved</p>") == []


def test_the_language_follows_the_browser_and_can_be_switched(olivia):
    client = client_for(olivia)
    assert "名簿" in client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "Rosters" in client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": reverse("home")})
    assert "Rosters" in client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()


def test_every_source_string_has_a_japanese_translation(tmp_path):
    """Re-extract the strings from the code and templates; none may lack a translation.
    (Catches a new message added without its Japanese, e.g. one only the worker shows.)"""
    import shutil
    import subprocess
    import sys

    from django.conf import settings

    if shutil.which("xgettext") is None:
        pytest.skip("gettext tools are not installed")
    for name in ("countersign", "audit", "roster", "campaigns", "web", "templates", "locale"):
        shutil.copytree(settings.BASE_DIR / name, tmp_path / name)
    shutil.copy(settings.BASE_DIR / "manage.py", tmp_path)
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "ja", "--no-obsolete"],
                   cwd=tmp_path, check=True, capture_output=True)
    po = (tmp_path / "locale" / "ja" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    missing = []
    for block in po.split("\n\n")[1:]:  # the first block is the header
        lines = block.strip().splitlines()
        msgid = "".join(eval(line.split(" ", 1)[1]) if line.startswith("msgid ") else eval(line)
                        for line in _field(lines, "msgid "))
        msgstr = "".join(eval(line.split(" ", 1)[1]) if " " in line and not line.startswith('"')
                         else eval(line) for line in _field(lines, "msgstr"))
        if "#, fuzzy" in block or not msgstr:
            missing.append(msgid)
    assert missing == []


def _field(lines, prefix):
    """The lines of one field of a .po entry (its first line and its continuations)."""
    out, inside = [], False
    for line in lines:
        if line.startswith(prefix):
            inside = True
            out.append(line)
        elif inside and line.startswith('"'):
            out.append(line)
        elif inside:
            break
    return out
