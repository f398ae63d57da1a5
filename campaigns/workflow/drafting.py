"""The operator's moves: create, duplicate (or send to the rest), edit, submit, test-send,
cancel."""

from __future__ import annotations

import smtplib

from django.core.mail import get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from campaigns import dkim_probe, mail, sending_hours, unsubscribe
from campaigns.actions import Action
from campaigns.models import Campaign, CampaignVersion, Delivery, Kind, TestSend
from campaigns.states import TRANSITIONS, State
from campaigns.terms import SENDING_FIELDS
from campaigns.workflow.door import (
    ALLOWED,
    CONTENT_FIELDS,
    Check,
    ContentRefused,
    NotAllowed,
    TestSendFailed,
    WrongState,
    can,
    charset_check,
    content_check,
    first_of,
    guard_outside_the_lock,
    locked,
    name_check,
    perform,
    record_move,
    record_refusal,
    refused,
    unchanged_since,
    verdict_on,
    void_signoffs,
)
from countersign.roles import Role, has_role
from roster import member_data
from roster.services import roster_subset


def create(*, user, roster, name: str, sender: str, subject: str, body_text: str,
           body_html: str = "", kind: str = Kind.NOTICE, **sending) -> Campaign:
    """A new draft (not a move between states: the diagram's entry)."""
    fields = {"kind": kind, "sender": sender, "subject": subject, "body_text": body_text,
              "body_html": mail.sanitise_html(body_html)}
    if not has_role(user, Role.OPERATOR):
        raise NotAllowed(_("Only an operator can create a campaign."), code="role")
    check = first_of(lambda: content_check(roster, fields), lambda: name_check(name))
    if not check:
        raise check.error
    with transaction.atomic():
        sending = {k: v for k, v in sending.items() if k in SENDING_FIELDS}
        campaign = Campaign.objects.create(name=name, roster=roster, author=user, **fields,
                                           **sending)
        audit.record(Action.CREATED, actor=user, role=Role.OPERATOR, target=campaign,
                     payload={"state": campaign.state, "roster": roster.pk,
                              "content_hash": campaign.compute_content_hash(),
                              "recipient_count": roster.member_count})
    return campaign


# States after which "send to the rest" makes sense: the campaign will send no more.
ENDED_STATES = (State.STOPPED, State.COMPLETED)
NOT_REACHED = (Delivery.State.PENDING, Delivery.State.FAILED, Delivery.State.SKIPPED,
               Delivery.State.REFUSED)


def can_duplicate(campaign, user) -> Check:
    if not has_role(user, Role.OPERATOR):
        return refused(NotAllowed, _("Only an operator can create a campaign."), "role")
    return ALLOWED


def can_send_to_the_rest(campaign, user) -> Check:
    """Once per campaign, while its roster still holds the members' data and someone is
    left: the page shows the button on this answer, and duplicate() asks it again on the
    locked row."""
    return first_of(lambda: can_duplicate(campaign, user),
                    lambda: ALLOWED if campaign.state in ENDED_STATES else refused(
                        WrongState, _("Only a stopped or completed campaign has a rest."),
                        "state"),
                    lambda: _rest_not_made(campaign),
                    lambda: ALLOWED if campaign.roster.purged_at is None else refused(
                        WrongState, _("The member data of this campaign's roster was erased "
                                      "(retention): there is no rest to write to from here."),
                        "roster_purged"),
                    lambda: ALLOWED if campaign.deliveries.filter(
                        state__in=NOT_REACHED).exists() else refused(
                        WrongState, _("Every member was sent the message (or is in doubt)."),
                        "nobody_left"))


def _rest_not_made(campaign) -> Check:
    rest = campaign.rest_campaign
    if rest is None:
        return ALLOWED
    return refused(WrongState, _("The rest of this campaign was already made, once: "
                                 "campaign “%(name)s” (number %(number)s).")
                   % {"name": rest.name, "number": rest.pk}, "rest_already_made",
                   details={"rest_campaign": rest.pk})


def duplicate(*, campaign, user, rest_only: bool = False) -> Campaign:
    """A new draft with the same content and sending terms, by `user`: to the same roster,
    or (rest_only) to exactly the members this stopped campaign did not reach (not sent,
    failed, skipped or refused; never a member in doubt). Either way it goes through the
    whole countersign again."""
    check = (can_send_to_the_rest if rest_only else can_duplicate)(campaign, user)
    if not check:
        raise check.error
    if not rest_only:
        return _copy(campaign, user, rest_only=False)
    with transaction.atomic():  # once per campaign: asked again on the locked row
        campaign = locked(campaign)
        check = can_send_to_the_rest(campaign, user)
        if check:
            return _copy(campaign, user, rest_only=True)
        audit.record(Action.REFUSED, actor=user, role=Role.OPERATOR, target=campaign,
                     payload={"attempted": "send_to_the_rest", "code": check.error.code,
                              "reason": str(check.error.message), "state": campaign.state,
                              **check.error.details})
    raise check.error


def _copy(campaign, user, *, rest_only: bool) -> Campaign:
    with transaction.atomic():
        roster, name = campaign.roster, _("%(name)s (copy)") % {"name": campaign.name}
        if rest_only:
            name = _("%(name)s (the rest)") % {"name": campaign.name}
            ids = campaign.deliveries.filter(state__in=NOT_REACHED).values_list("member_id",
                                                                               flat=True)
            roster = roster_subset(roster=roster, member_ids=list(ids), name=name,
                                   reason=f"rest of campaign {campaign.pk}", actor=user)
        terms = {f: getattr(campaign, f) for f in SENDING_FIELDS}
        if sending_hours.past_deadline(sending_hours.Hours.of(campaign), timezone.now()):
            terms["send_before"] = None  # the copy gets a moment of its own, or none
        copy = create(user=user, roster=roster, name=name, sender=campaign.sender,
                      subject=campaign.subject, body_text=campaign.body_text,
                      body_html=campaign.body_html, kind=campaign.kind, **terms)
        if rest_only:
            Campaign.objects.filter(pk=campaign.pk, rest_campaign=None).update(
                rest_campaign=copy)
        audit.record(Action.DUPLICATED, actor=user, role=Role.OPERATOR, target=copy, payload={
            "from_campaign": campaign.pk, "rest_only": rest_only, "roster": roster.pk,
            "recipient_count": roster.member_count})
    return copy


def edit(*, campaign, user, roster=None, name: str | None = None, **changes) -> Campaign:
    """Change the content. After submit this returns the campaign to draft and voids every
    approval and release: they were given for other content."""
    if "body_html" in changes:
        changes["body_html"] = mail.sanitise_html(changes["body_html"])
    return perform("edit", campaign, user, check=_conditions_of_edit, apply=_apply_edit,
                    roster=roster, name=name, changes=changes)


def _conditions_of_edit(c, user, *, roster, name, changes) -> Check:
    fields = {f: changes.get(f, getattr(c, f)) for f in CONTENT_FIELDS}
    return first_of(lambda: content_check(roster or c.roster, fields), lambda: name_check(name))


def _apply_edit(c, user, *, roster, name, changes) -> dict:
    old_hash = c.content_hash or c.compute_content_hash()
    if roster is not None:
        c.roster = roster
    if name is not None:
        c.name = name
    for field in CONTENT_FIELDS + SENDING_FIELDS:
        if field in changes:
            setattr(c, field, changes[field])
    voided = void_signoffs(c, "edited") if c.state != State.DRAFT else []
    c.content_hash = ""
    return {"old_content_hash": old_hash, "content_hash": c.compute_content_hash(),
            "voided_signoffs": voided}


def _footer_check(c) -> Check:
    """A newsletter is submitted only with its footer (a draft may be saved without)."""
    if c.kind != Kind.NEWSLETTER:
        return ALLOWED
    problems = unsubscribe.footer_problems(body_text=c.body_text, body_html=c.body_html)
    if problems:
        return refused(ContentRefused, " ".join(m for ms in problems.values() for m in ms),
                   "newsletter_footer", details={"fields": sorted(problems)})
    return ALLOWED


def _hours_check(c) -> Check:
    """Sending hours that can open, and a "do not send after" still ahead."""
    hours = sending_hours.Hours.of(c)
    problems = sending_hours.problems(hours)
    if problems:
        return refused(ContentRefused, " ".join(problems.values()), "sending_hours",
                       details={"fields": sorted(problems)})
    if sending_hours.past_deadline(hours, timezone.now()):
        return refused(ContentRefused, _("The “do not send after” moment has already passed."),
                       "deadline_passed")
    return ALLOWED


def submit(*, campaign, user) -> Campaign:
    """Freeze this version for review: content hash, snapshot, and the content guard. The
    guard runs before the campaign row is locked; the lock only stores its verdict."""
    early = first_of(can("submit", campaign, user), content_check(campaign.roster, {
        f: getattr(campaign, f) for f in CONTENT_FIELDS}))
    if not early:
        # Refused on what this request read. Not retried under the lock: the campaign may
        # have moved meanwhile (a reject racing this submit), and nothing was checked.
        with transaction.atomic():
            record_refusal(TRANSITIONS["submit"], locked(campaign), user, early.error)
        raise early.error
    checked, report, checked_hash = guard_outside_the_lock(campaign)
    written = charset_check(checked)  # every member's values: outside the lock, like the guard
    return perform("submit", campaign, user, check=_conditions_of_submit,
                    apply=_apply_submit, checked=checked, report=report,
                    checked_hash=checked_hash, written=written)


def _conditions_of_submit(c, user, *, checked, report, checked_hash, written) -> Check:
    return first_of(
        lambda: content_check(c.roster, {f: getattr(c, f) for f in CONTENT_FIELDS}),
        lambda: unchanged_since(c, checked),
        lambda: ALLOWED if c.roster.member_count else refused(
            ContentRefused, _("The roster has no members."), "no_recipients"),
        lambda: _footer_check(c),
        lambda: _hours_check(c),
        lambda: written,
        lambda: _rows_open(report),
        lambda: ALLOWED if report.ok else refused(
            ContentRefused, _("The content guard found roster data of other members in the "
                              "message."), "guard",
            details={"guard": report.audit_summary()}, report=report))


def _rows_open(report) -> Check:
    """Rows whose stored values do not open (changed or moved in the database) are no
    content problem the author can fix: they say so, and who can."""
    members = [f.member for f in report.findings if f.kind == "unreadable"]
    if not members:
        return ALLOWED
    return refused(
        ContentRefused, _("The stored data of member(s) %(members)s does not open: it was "
                          "changed in the database, or moved there from another row or roster. "
                          "Nothing can be submitted or sent for this roster; tell the "
                          "association and import the roster again.") % {
            "members": ", ".join(members[:5])},
        "unreadable_rows", details={"guard": report.audit_summary()}, report=report)


def _apply_submit(c, user, *, checked, report, checked_hash, written) -> dict:
    c.content_hash = checked_hash
    previous = c.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = CampaignVersion.objects.create(
        campaign=c, number=previous + 1, content_hash=c.content_hash, roster=c.roster,
        sender=c.sender,
        subject=c.subject, body_text=c.body_text, body_html=c.body_html,
        recipient_count=c.roster.member_count, submitted_by=user,
        guard_report=report.to_json(), **{f: getattr(c, f) for f in SENDING_FIELDS},
    )
    return {"content_hash": c.content_hash, "version": version.number,
            "recipient_count": version.recipient_count, "sending": c.sending_terms(),
            "links": report.links[:50],
            "guard": report.audit_summary()}


def test_send(*, campaign, user, member, recipients) -> TestSend:
    """Send the message as `member` would get it, to staff only (the author and the chosen
    supervisors and observers), so that reviewers read the real thing before approving.

    Checked (refusals audited) in one transaction, sent outside any (a slow e-mail server
    must not hold the database), recorded in another.
    """
    t = TRANSITIONS["test_send"]
    to = [user, *(r for r in recipients if r.pk != user.pk)]
    with transaction.atomic():
        c = locked(campaign)
        verdict = verdict_on(t, c, user, _conditions_of_test_send, {"member": member, "to": to})
    if not verdict:
        raise verdict.error

    tested_hash = c.content_hash or c.compute_content_hash()
    payload = {"content_hash": tested_hash, "member": member.member_number,
               "to": sorted(p.get_username() for p in to)}
    values = mail.member_values(member_data.values(member, shown=True), c.kind)
    messages = [
        mail.build_message(sender=c.sender, subject=c.subject, body_text=c.body_text,
                           body_html=c.body_html, values=values,
                           to=person.email, subject_prefix=_("[TEST] "), charset=c.charset,
                           headers={"X-Countersign-Test": str(c.pk)})
        for person in to
    ]
    try:
        get_connection(fail_silently=False).send_messages(messages)
    except (smtplib.SMTPException, OSError) as error:
        with transaction.atomic():
            audit.record(Action.TEST_SEND_FAILED, actor=user, role=Role.OPERATOR, target=c,
                         payload={**payload, "error": str(error)[:500]})
        raise TestSendFailed(_("The e-mail server did not accept the test message: %(error)s")
                             % {"error": error}, code="smtp") from error
    payload.update(_send_probe(c))

    with transaction.atomic():
        c = locked(c)
        record = TestSend.objects.create(campaign=c, content_hash=tested_hash,
                                         member_number=member.member_number, sent_by=user)
        record.recipients.set(to)
        record_move(t, c, user, c.state, payload)
    return record


def _send_probe(c) -> dict:
    """What the relay signs for this sender, read back by process_bounces (dkim_probe): on
    its own, so that a relay refusing it does not undo the test messages it took."""
    probe = dkim_probe.message(c)
    if probe is None:
        return {}
    message, nonce = probe
    try:
        get_connection(fail_silently=False).send_messages([message])
    except (smtplib.SMTPException, OSError) as error:
        return {"signature_probe": "", "signature_probe_error": str(error)[:200]}
    return {"signature_probe": nonce}


def _conditions_of_test_send(c, user, *, member, to) -> Check:
    if member.roster_id != c.roster_id:
        return refused(ContentRefused, _("That member is not in this campaign's roster."), "member")
    staff_ok = all(has_role(r, Role.SUPERVISOR, Role.OBSERVER) and r.email for r in to[1:])
    if not (staff_ok and user.email):
        return refused(NotAllowed, _("Test messages go only to the author, supervisors and "
                                 "observers, each with an e-mail address."), "recipients")
    return charset_check({"roster_id": c.roster_id, "charset": c.charset, "sender": c.sender,
                          **c.texts()}, members=[member_data.values(member, shown=True)])


def cancel(*, campaign, user, comment: str = "") -> Campaign:
    return perform("cancel", campaign, user, apply=_apply_cancel, comment=comment)


def _apply_cancel(c, user, *, comment) -> dict:
    return {"content_hash": c.content_hash, "comment": comment,
            "voided_signoffs": void_signoffs(c, "cancelled")}

