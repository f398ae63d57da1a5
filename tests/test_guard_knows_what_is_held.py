"""The content guard knows every member value the association holds (issue 21, item 1 and
part of item 2): every column of the campaign's roster by what it holds (readings,
telephone numbers, postal addresses, other values held by one member), and every other
roster still held (the 2022 shape: a mail to part of the membership carrying the whole
membership). Each leak is tried the way an insider would write it, through the real
workflow: at submit, and with the submit check switched off (the check before each
hand-over alone, to a real SMTP server)."""

import gc
import threading

import pytest

from campaigns import guard, guard_index, workflow
from campaigns.findings import GuardReport
from campaigns.models import State
from tests.factories import (
    make_campaign,
    make_roster,
    named_officer,
    run_until_done,
    through_the_countersign,
)

HEADER = ["会員番号", "氏名", "メールアドレス", "フリガナ", "ローマ字", "電話番号", "住所",
          "勤務先", "支部"]
ROWS = [
    ["W1001", "佐藤 花子", "hanako.sato@example.jp", "サトウ ハナコ", "Sato Hanako",
     "090-1111-2222", "〒150-0001 東京都渋谷区神宮前1-2-3", "株式会社みなと精機 横浜工場",
     "東京支部"],
    ["W1002", "鈴木 一郎", "ichiro.suzuki@example.jp", "スズキ イチロウ", "Suzuki Ichiro",
     "03-3333-4444", "〒530-0001 大阪府大阪市北区梅田2-4-9", "北浜会計事務所", "東京支部"],
    ["W1003", "高橋 美咲", "misaki.t@example.jp", "タカハシ ミサキ", "Takahashi Misaki",
     "080-5555-6666", "〒460-0008 愛知県名古屋市中区栄3-5-1", "栄デンタルクリニック",
     "東京支部"],
    ["W1004", "田中 健太", "kenta.tanaka@example.jp", "タナカ ケンタ", "Tanaka Kenta",
     "070-7777-8888", "〒812-0011 福岡県福岡市博多区博多駅前2-1-1", "博多港運株式会社",
     "大阪支部"],
]
# Members the association imported earlier: the full membership, none of them in the
# campaign's roster.
FULL = [[f"W2{n:03d}", name, f"member{n:03d}@example.org"] for n, name in enumerate(
    ["山本 大輔", "中村 優子", "小林 翔太", "加藤 真由美", "吉田 拓也"], start=1)]

LEAKS = {
    "phone, separators changed": "お問い合わせは 090 1111 2222 まで",
    "phone, full-width digits": "連絡先：０３（３３３３）４４４４",
    "phone, Arabic-Indic digits": "٠٨٠-٥٥٥٥-٦٦٦٦ へどうぞ",
    "address without its postal code": "会場: 大阪府大阪市北区梅田2-4-9 にお越しください",
    "address with its postal code, spaced": "〒 460-0008 愛知県 名古屋市中区 栄3-5-1",
    "one member's employer": "博多港運株式会社 様より",
    "readings of two members, katakana": "スズキイチロウ、タカハシミサキ",
    "readings of two members, hiragana": "さとう はなこ / たなか けんた",
    "readings of two members, romaji": "Suzuki Ichiro, Takahashi Misaki",
    "member number, Devanagari digits": "W१००२ の方へ",
    "another roster's address": "代表: member003@example.org",
    "another roster's names": "担当: 中村 優子、小林 翔太",
}

# Whose value a leak carries, when that member is one of the campaign's recipients.
OWNER = {"phone, separators changed": {"hanako.sato@example.jp"}}

ORDINARY = {
    "the association's own phone and address": (
        "事務局: 〒100-0005 東京都千代田区丸の内1-1-1 電話 03-1234-5678"),
    "dates, amounts and a branch every member shares": (
        "2026年12月4日(金) 14:00 から 東京支部 にて。会費 3,000円。"),
    "the recipient's own values through placeholders": (
        "ご登録の電話番号: {電話番号}\nご住所: {住所}\nフリガナ: {フリガナ}"),
    "one officer's name as a signature": "会長 佐藤 花子",
}
# Officers the association lists as members who may be named (another member named alone is
# refused): the chair signs.
LISTED = {"one officer's name as a signature": ("W1001", "会長")}


@pytest.fixture
def held(olivia):
    """The campaign's roster (4 members, every kind of column) and, held beside it, the
    association's full membership imported earlier."""
    full = make_roster(olivia, rows=FULL, name="全会員名簿")
    campaign_roster = make_roster(olivia, rows=ROWS, header=HEADER, name="一部の会員")
    return campaign_roster, full


def draft(olivia, roster, text):
    return make_campaign(olivia, roster, canary_enabled=False, subject="{name} 様へ",
                         body_text="{name} 様\n\n" + text + "\n\n共済会 事務局\n")


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_leak_of_any_value_the_association_holds_is_refused_at_submit(case, olivia, held):
    campaign = draft(olivia, held[0], LEAKS[case])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    assert refused.value.code == "guard"
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_leak_of_any_value_the_association_holds_never_reaches_the_mail_server(
        case, olivia, sam, oscar, held, sink, monkeypatch):
    monkeypatch.setattr(guard, "check_campaign_content", lambda **kw: GuardReport())
    campaign = through_the_countersign(draft(olivia, held[0], LEAKS[case]), olivia, sam, oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    # The member whose value it is may get their own value; nobody else gets anything.
    assert set(sink.handler.recipients()) <= OWNER.get(case, set())
    assert campaign.state == State.PAUSED


@pytest.mark.parametrize("case", sorted(ORDINARY))
def test_an_ordinary_notice_beside_every_kind_of_column_is_sent_to_every_member(
        case, olivia, sam, oscar, held, sink):
    if case in LISTED:
        named_officer(oscar, *LISTED[case])
    campaign = through_the_countersign(draft(olivia, held[0], ORDINARY[case]), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS)


def test_the_finding_says_whose_value_and_which_column_never_the_value(olivia, held):
    campaign = draft(olivia, held[0], LEAKS["phone, separators changed"])
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=campaign, user=olivia)
    (finding,) = refused.value.report.findings
    assert (finding.kind, finding.member, finding.detail) == ("phone", "W1001", "電話番号")
    assert "1111" not in str(refused.value.report.to_json())


def test_a_roster_imported_a_moment_ago_is_known_to_the_next_check(olivia):
    roster = make_roster(olivia, rows=ROWS[:2], header=HEADER)
    campaign = draft(olivia, roster, "ご案内")
    workflow.submit(campaign=campaign, user=olivia)  # the index is built and cached
    later = make_roster(olivia, rows=FULL, name="後から届いた名簿")
    leak = draft(olivia, roster, "担当: 中村 優子、小林 翔太")
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=leak, user=olivia)
    assert later.pk in {pk for pk, *_rest in guard_index._held_rosters()}


def test_a_member_registered_with_the_associations_address_and_phone_does_not_block_its_footer(
        olivia, sam, oscar, sink, settings):
    """An officer registered with the office's address, telephone and contact address: the
    association's own footer is not another member's data."""
    settings.ASSOCIATION_POSTAL_ADDRESS = "〒100-0005 東京都千代田区丸の内1-1-1 03-1234-5678"
    settings.ASSOCIATION_CONTACT = "jimukyoku@association.example"
    officer = ["W1009", "事務局 太郎", "jimukyoku@association.example", "ジムキョク タロウ",
               "Jimukyoku Taro", "03-1234-5678", "〒100-0005 東京都千代田区丸の内1-1-1",
               "一般社団法人 サンプル会員協会", "東京支部"]
    roster = make_roster(olivia, rows=[*ROWS, officer], header=HEADER)
    footer = ("\n--\n一般社団法人 サンプル会員協会\n〒100-0005 東京都千代田区丸の内1-1-1 "
              "03-1234-5678\njimukyoku@association.example")
    campaign = through_the_countersign(draft(olivia, roster, "ご案内" + footer), olivia, sam,
                                       oscar)
    sink.handler.received.clear()
    run_until_done(campaign)
    assert campaign.state == State.COMPLETED
    assert len(sink.handler.campaign_mail()) == len(ROWS) + 1


def test_a_worker_process_builds_the_index_of_the_rosters_held_as_it_starts(olivia):
    """django-q2's post_spawn: the index is ready before the first message needs it."""
    from django_q.signals import post_spawn

    roster = make_roster(olivia, rows=ROWS, header=HEADER)
    guard_index.forget_held_rosters()
    guard_index.forget_indexes()
    post_spawn.send(sender="django_q", proc_name="Process-1:1")
    built = guard_index._index.cache_info()
    assert built.currsize == 1
    guard_index.roster_index(roster)  # the first message's check
    assert guard_index._index.cache_info().misses == built.misses  # nothing built again


def test_a_warm_up_that_cannot_read_the_database_leaves_the_worker_running(monkeypatch, caplog):
    def no_database():
        raise RuntimeError("no database yet")

    monkeypatch.setattr(guard_index, "_held_rosters", no_database)
    guard_index.warm()
    assert "guard index not built at worker start" in caplog.text


def test_a_member_whose_pseudonym_was_changed_in_the_database_is_still_in_the_index(olivia,
                                                                                      held):
    """The database administrator changes a member's stored pseudonym: the row is no longer
    sent to (it does not open through the door), but the guard still knows its values."""
    from roster.models import Member

    Member.objects.filter(roster=held[1], member_number="W2002").update(email_pseudonym="0" * 64)
    guard_index.forget_indexes()
    leak = draft(olivia, held[0], "担当: 中村 優子 (member002@example.org)")
    with pytest.raises(workflow.ContentRefused) as refused:
        workflow.submit(campaign=leak, user=olivia)
    assert "W2002" in {finding.member for finding in refused.value.report.findings}


def test_the_index_is_built_with_the_cyclic_collector_off_and_left_as_it_was(olivia, held):
    """Building the index of a big roster with the collector on cost a third of its time;
    it is switched back on after, also when the build fails."""
    import gc

    seen = []
    original = guard_index.member_keys.entries

    def spy(rows, **kw):
        seen.append(gc.isenabled())
        return original(rows, **kw)

    guard_index.member_keys.entries = spy
    try:
        guard_index.build_index([], min_number_length=4)
        assert seen == [False] and gc.isenabled()
        guard_index.member_keys.entries = lambda rows, **kw: 1 / 0
        with pytest.raises(ZeroDivisionError):
            guard_index.build_index([], min_number_length=4)
        assert gc.isenabled()
    finally:
        guard_index.member_keys.entries = original


class _GcPausingBeforeSwitchingOff:
    """gc as guard_index sees it, with a pause for thread B just before it switches the
    collector off: the GIL can switch threads right there."""

    def __init__(self, b_inside, go_on):
        self.b_inside, self.go_on = b_inside, go_on

    def isenabled(self):
        return gc.isenabled()

    def disable(self):
        if threading.current_thread().name == "B":
            self.b_inside.set()
            self.go_on.wait(5)
        gc.disable()

    def enable(self):
        gc.enable()


def test_two_threads_building_an_index_at_once_leave_the_cyclic_collector_on(monkeypatch):
    """A reviewer's case: thread A builds (collector off); thread B starts, sees it off and is
    about to switch it off; A ends and switches it on; B switches it off and, having seen
    it off, would never switch it back on: the process without its cyclic collector."""
    assert gc.isenabled()
    a_building, a_may_end = threading.Event(), threading.Event()
    b_inside, b_go_on = threading.Event(), threading.Event()
    monkeypatch.setattr(guard_index, "gc", _GcPausingBeforeSwitchingOff(b_inside, b_go_on))
    original = guard_index.member_keys.entries

    def entries(rows, **kw):
        if threading.current_thread().name == "A":
            a_building.set()
            a_may_end.wait(5)
        else:
            b_inside.set()
        return original(rows, **kw)

    monkeypatch.setattr(guard_index.member_keys, "entries", entries)
    build = lambda: guard_index.build_index([], min_number_length=4)
    a = threading.Thread(target=build, name="A")
    b = threading.Thread(target=build, name="B")
    try:
        a.start()
        assert a_building.wait(5)  # A: collector off, building
        b.start()
        assert b_inside.wait(5)  # B: inside its build, or about to switch the collector off
        a_may_end.set()
        a.join(5)
        b_go_on.set()
        b.join(5)
        assert gc.isenabled(), "the cyclic collector was left off for the whole process"
    finally:
        a_may_end.set()
        b_go_on.set()
        gc.enable()
