"""Thin views: find the campaign, check the role, call one workflow action, redirect."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import AuditEntry
from audit.selectors import chain_head
from campaigns import (
    carrier_outcomes,
    dkim_probe,
    key_window,
    ledger,
    mail,
    seen,
    selectors,
    workflow,
)
from campaigns.actions import Action
from campaigns.findings import GuardReport, labelled
from campaigns.forms import (
    CampaignForm,
    CommentForm,
    TestSendForm,
    observer_signoff_form,
    supervisor_signoff_form,
)
from campaigns.models import Campaign, Delivery, Notification, SignOff, State
from countersign import access, association_key
from countersign.roles import Role, has_role, role_required
from countersign.templatetags.countersign_tags import copyable
from countersign.text import found_in
from roster import data_keys, member_data

# The campaign pages show rendered messages: countersign.access.
CAMPAIGN_ROLES = access.roles_for(access.Data.RENDERED_MESSAGES)
# How long the STOP button's request waits for a hand-over in progress before it answers
# "stopping" (the page then watches): a slow mail server must not freeze the page.
STOP_PAGE_WAIT_SECONDS = 2.0
LIVE_OR_DONE = (*workflow.LIVE_STATES, State.STOPPED, State.COMPLETED)


def _get_campaign_for(request, pk) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("roster", "author"), pk=pk)


def _attempt(request, action, *, form=None, **kwargs):
    """Run one workflow action and return what it returns; NotAllowed is a 403, any other
    refusal a message (and None). With a sign-off `form`, each checklist item not ticked is
    its own error beside the checklist. A sign-off refused because the campaign changed
    after the page was loaded leaves what changed in `request.seen_changes` for the page."""
    try:
        return action(user=request.user, **kwargs)
    except workflow.NotAllowed:
        raise PermissionDenied from None
    except workflow.WorkflowError as error:
        if error.code == "seen_changed":
            campaign = Campaign.objects.get(pk=kwargs["campaign"].pk if "campaign" in kwargs
                                            else kwargs["delivery"].campaign_id)
            request.seen_changes = seen.changes_since(campaign, kwargs["seen"])
        missing = error.details.get("missing") if form is not None else None
        if missing:
            items = dict(form.fields["checklist"].choices)
            for key in missing:
                form.add_error("checklist", _("Not ticked: %(item)s") % {"item": items[key]})
            return None
        messages.error(request, error.message)
        if isinstance(error, workflow.ContentRefused) and error.report is not None:
            # By reference: the refusal's audit entry keeps the findings (kinds, places,
            # member numbers); the session holds its sequence, never a member's data.
            request.session["guard_refusal"] = AuditEntry.objects.filter(
                action=Action.REFUSED, actor=request.user).order_by("-sequence").values_list(
                "sequence", flat=True).first()
        return None




def _act(request, pk, action, done: str, *, level=messages.SUCCESS, **kwargs):
    """The POST-only buttons: one workflow action on one campaign, a message, back to it."""
    campaign = _get_campaign_for(request, pk)
    if _attempt(request, action, campaign=campaign, **kwargs):
        messages.add_message(request, level, done)
    return _back_to(campaign, request)


def _back_to(campaign, request):
    """Back to the campaign's page; after a sign-off refused because the campaign changed,
    with the hash the refused page showed, so that the page shows what changed since."""
    changes = getattr(request, "seen_changes", None)
    if changes is None:
        return redirect(campaign)
    return redirect(f"{campaign.get_absolute_url()}?changed_since="
                    f"{changes['seen'].content_hash}&shown={changes['seen'].recipient_count}")


def _comment(request) -> str:
    form = CommentForm(request.POST)
    return form.cleaned_data["comment"] if form.is_valid() else ""


def _checks(campaign, user) -> dict:
    """Which buttons to show: the same checks the actions run (from the workflow's table).
    Rejecting happens on the reviewer's page or on the witness's page, by role."""
    can = workflow.checks_for(campaign, user)
    return {**can,
            "review_page": bool(can["approve"]) or (can["reject"] and has_role(
                user, Role.SUPERVISOR)),
            "witness_page": bool(can["release"]) or (can["reject"] and has_role(
                user, Role.OBSERVER)),
            "incident_report": access.may_see(user, access.Data.INCIDENT_SUMMARY),
            "duplicate": workflow.can_duplicate(campaign, user),
            "send_to_the_rest": workflow.can_send_to_the_rest(campaign, user)}


@role_required(*CAMPAIGN_ROLES)
def campaign_list(request):
    campaigns = Campaign.objects.select_related("roster", "author")
    state, q = request.GET.get("state"), request.GET.get("q", "").strip()
    if state in State.values:
        campaigns = campaigns.filter(state=state)
    if q:  # folded as people type (countersign.text): a few thousand names and subjects
        campaigns = campaigns.filter(pk__in=[
            pk for pk, name, subject in Campaign.objects.values_list("pk", "name", "subject")
            if found_in(q, name, subject)])
    page = Paginator(campaigns, 50).get_page(request.GET.get("page"))
    return render(request, "campaigns/list.html", {
        "campaigns": page.object_list, "page": page, "states": State.choices, "state": state,
        "q": q})


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    form = CampaignForm(request.POST or None, initial={"roster": request.GET.get("roster")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        campaign = workflow.create(user=request.user, **data)
        messages.success(request, _("Draft saved."))
        return redirect(campaign)
    return render(request, "campaigns/form.html", {"form": form})


@role_required(*CAMPAIGN_ROLES)
def campaign_detail(request, pk):
    campaign = _get_campaign_for(request, pk)
    guard_findings = _refusal_findings(campaign, request)
    return render(request, "campaigns/detail.html", {
        "campaign": campaign, "seen": seen.Seen.of(campaign),
        "changes": _changes_since_query(campaign, request.GET),
        "can": _checks(campaign, request.user),
        "previews": [selectors.preview(campaign, m)
                     for m in selectors.sample_members(campaign.roster)],
        "history": selectors.history(campaign),
        "versions": campaign.versions.order_by("-number"),
        "test_form": TestSendForm(roster=campaign.roster, search_url=reverse(
            "campaigns:member_search", args=[campaign.pk])),
        "guard_findings": guard_findings,
        "progress": ledger.progress(campaign) if campaign.state in LIVE_OR_DONE else None,
        "carriers": carrier_outcomes.page(campaign) if campaign.state in LIVE_OR_DONE else None,
        "in_doubt": ledger.with_addresses([_with_seen_evidence(d) for d in campaign.deliveries
                                           .filter(state=Delivery.State.IN_DOUBT)[:100]]),
        "refused": [{"member_number": d.member_number,
                     "findings": [labelled(f) for f in d.findings]}
                    for d in campaign.deliveries.filter(state=Delivery.State.REFUSED)[:100]],
        "current_version": campaign.current_version(),
        "recounted": selectors.recounted(campaign),
        "placeholders": ["{" + f + "}" for f in mail.fields_for(campaign.roster.extra_columns)],
    })


def _refusal_findings(campaign, request) -> GuardReport | None:
    """The content guard's findings of this person's refused submit (the session holds the
    refusal's audit sequence), with the text found read back from the campaign's own
    subject and bodies where it stands there."""
    sequence = request.session.pop("guard_refusal", None)
    entry = AuditEntry.objects.about(campaign).filter(
        sequence=sequence, actor=request.user, action=Action.REFUSED).first() \
        if sequence else None
    if entry is None or "guard" not in entry.payload:
        return None
    return GuardReport.from_audit(entry.payload["guard"]).with_snippets({
        "subject": campaign.subject, "body_text": campaign.body_text,
        "body_html": campaign.body_html})


def _with_seen_evidence(delivery):
    """A message in doubt with the digest of what its row shows (its decision form posts it)."""
    delivery.seen_evidence = seen.evidence_digest(delivery)
    return delivery


def _changes_since_query(campaign, query):
    """The campaign page after a refused sign-off: what changed since the refused page."""
    shown = query.get("changed_since", "")
    if len(shown) != 64:
        return None
    try:
        count = int(query.get("shown", ""))
    except ValueError:
        count = campaign.roster.member_count
    now = seen.Seen.of(campaign)
    return seen.changes_since(campaign, seen.Seen(content_hash=shown, recipient_count=count,
                                                  terms=now.terms))


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk):
    campaign = _get_campaign_for(request, pk)
    allowed = workflow.can("edit", campaign, request.user)
    if not allowed:
        if request.method == "POST":  # a forged or stale form: the workflow refuses and audits
            _attempt(request, workflow.edit, campaign=campaign)
        elif isinstance(allowed.error, workflow.NotAllowed):
            raise PermissionDenied
        else:
            messages.error(request, allowed.reason)
        return redirect(campaign)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        if not form.has_changed():
            messages.info(request, _("Nothing was changed."))
        else:
            was, signed = campaign.state, campaign.signoffs.filter(
                voided_at=None, kind__in=[SignOff.Kind.APPROVAL, SignOff.Kind.RELEASE]).exists()
            if _attempt(request, workflow.edit, campaign=campaign, **form.cleaned_data):
                messages.success(request, _saved_message(was, signed))
        return redirect(campaign)
    return render(request, "campaigns/form.html", {"form": form, "campaign": campaign})


def _saved_message(state: str, signed: bool) -> str:
    """What saving did, exactly: a draft stays a draft; a campaign under review goes back
    to draft, and only sign-offs that were given are said to be void."""
    if state == State.DRAFT:
        return _("Draft saved.")
    if signed:
        return _("Saved. The campaign is a draft again, and the sign-offs given to the "
                 "earlier version no longer count: submit it for review again.")
    return _("Saved. The campaign is a draft again: submit it for review again.")


@role_required(*CAMPAIGN_ROLES)
def campaign_preview(request, pk):
    campaign = _get_campaign_for(request, pk)
    number = request.GET.get("member", "").strip()
    member = campaign.roster.members.filter(member_number=number).first() if number else None
    if number and member is None:
        messages.error(request, _("No member with this number in the roster."))
    members = [member_data.values(member, shown=True)] if member else selectors.sample_members(
        campaign.roster)
    return render(request, "campaigns/preview.html", {
        "campaign": campaign, "number": number,
        "previews": [selectors.preview(campaign, m) for m in members],
    })


@role_required(Role.OPERATOR)
@require_POST
def campaign_submit(request, pk):
    return _act(request, pk, workflow.submit, _("Submitted for review."))


@role_required(Role.OPERATOR)
@require_POST
def campaign_test_send(request, pk):
    campaign = _get_campaign_for(request, pk)
    form = TestSendForm(request.POST, roster=campaign.roster)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(campaign)
    if _attempt(request, workflow.test_send, campaign=campaign,
                member=form.cleaned_data["member"],
                recipients=list(form.cleaned_data["recipients"])):
        messages.success(request, _("Test message sent."))
    return redirect(campaign)


def _signoff_page(request, campaign, *, template, form_factory, action, action_name):
    form = form_factory(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        comment = form.cleaned_data["comment"]
        if "reject" in request.POST:
            ok = _attempt(request, workflow.reject, campaign=campaign, comment=comment)
            if ok:
                messages.success(request, _("Rejected: the campaign is back with its author."))
        else:
            extra = {"override": form.cleaned_data["override"], "overridden": [
                key for key in request.POST.get("sender_failures_seen", "").split(" ") if key]
            } if "override" in form.fields else {}
            if "grant" in form.fields:
                extra["grant"] = form.grant_bytes()
            ok = _attempt(request, action, form=form, campaign=campaign,
                          seen=seen.Seen.from_post(request.POST),
                          checklist=form.cleaned_data["checklist"], comment=comment, **extra)
            if ok:
                head = chain_head()
                # The head with a copy button, whole and wrapping on a phone: people keep it.
                text = conditional_escape(_("%(done)s Audit chain head: entry %(sequence)s, "
                                            "%(hash)s. Keep it: it proves later that this "
                                            "record was not rewritten."))
                messages.success(request, mark_safe(text % {  # every piece escaped
                    "done": conditional_escape(action_name), "sequence": head.sequence,
                    "hash": copyable(head.hash)}))
        if ok:
            return redirect(campaign)
        campaign.refresh_from_db()
    return render(request, template, {
        "campaign": campaign, "form": form, "can": _checks(campaign, request.user),
        "release_window": settings.RELEASE_WINDOW_MINUTES,
        "grant_needed": data_keys.with_association(campaign.roster),
        "association_fingerprint": association_key.current_fingerprint(),
        "live_workers": key_window.live_workers(),
        "sender_check": dkim_probe.report_for(campaign) if settings.SENDER_CHECK else None,
        "seen": seen.Seen.of(campaign), "changes": getattr(request, "seen_changes", None),
        **selectors.review_material(campaign, user=request.user,
                                    page_number=request.GET.get("page")),
    })


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def campaign_review(request, pk):
    return _signoff_page(request, _get_campaign_for(request, pk),
                         template="campaigns/review.html", form_factory=supervisor_signoff_form,
                         action=workflow.approve, action_name=_("Approved."))


@role_required(Role.OBSERVER)
@require_http_methods(["GET", "POST"])
def campaign_release(request, pk):
    return _signoff_page(request, _get_campaign_for(request, pk),
                         template="campaigns/release.html", form_factory=observer_signoff_form,
                         action=workflow.release, action_name=_("Released."))


@role_required(Role.OBSERVER)
def grant_request(request, pk):
    """What the observer's key tool answers with a grant (campaigns.key_window): the
    roster's data key as sealed to the association, the running workers' public keys, the
    campaign's content hash and a deadline. No member data: the key inside opens only with
    the association's key."""
    campaign = _get_campaign_for(request, pk)
    if not data_keys.with_association(campaign.roster) or not campaign.content_hash:
        raise Http404("this campaign's roster needs no grant")
    response = JsonResponse(key_window.request_for(campaign), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = (
        f'attachment; filename="grant-request-campaign-{campaign.pk}.json"')
    return response


@role_required(Role.OPERATOR, Role.SUPERVISOR)
@require_POST
def campaign_cancel(request, pk):
    return _act(request, pk, workflow.cancel, _("Cancelled."), comment=_comment(request))


@role_required(Role.OBSERVER)
def observer_dashboard(request):
    campaigns = Campaign.objects.select_related("roster", "author")
    running = campaigns.filter(state__in=workflow.LIVE_STATES)
    return render(request, "campaigns/observer_dashboard.html", {
        "awaiting": campaigns.filter(state=State.APPROVED),
        "running": [(c, ledger.progress(c)) for c in running],
    })


@role_required(*CAMPAIGN_ROLES)
def campaign_progress(request, pk):
    """The live numbers, polled by the campaign page every few seconds."""
    return JsonResponse(ledger.progress(_get_campaign_for(request, pk)))


@role_required(*CAMPAIGN_ROLES)
@require_POST
def campaign_stop(request, pk):
    """The stop is committed at once; the page waits a moment for a message that was being
    handed over, and otherwise says so and keeps watching (the campaign page polls)."""
    campaign = _get_campaign_for(request, pk)
    stopped = _attempt(request, workflow.stop, campaign=campaign, wait=STOP_PAGE_WAIT_SECONDS)
    if stopped:
        left = stopped.handing_over
        if left:
            messages.warning(request, ngettext(
                "Stopping: %(count)s message was being handed over to the mail server when "
                "you pressed STOP. Nothing else will be sent; this page shows when the stop "
                "is final.",
                "Stopping: %(count)s messages were being handed over to the mail server when "
                "you pressed STOP. Nothing else will be sent; this page shows when the stop "
                "is final.", left) % {"count": left})
        else:
            messages.warning(request, _("STOPPED. No further message will be handed to the "
                                        "mail server."))
    return redirect(campaign)


@role_required(*CAMPAIGN_ROLES)
@require_POST
def campaign_pause(request, pk):
    return _act(request, pk, workflow.pause,
                _("Paused. The observer's release is needed to go on."), level=messages.INFO)


@role_required(Role.SUPERVISOR, Role.OBSERVER)
@require_POST
def campaign_confirm_canary(request, pk):
    return _act(request, pk, workflow.confirm_canary, _("Confirmed: the rest is being sent."),
                comment=_comment(request), seen=seen.Seen.from_post(request.POST))


@role_required(Role.SUPERVISOR, Role.OBSERVER)
@require_POST
def delivery_decide(request, pk, delivery_pk):
    campaign = _get_campaign_for(request, pk)
    delivery = get_object_or_404(Delivery, pk=delivery_pk, campaign=campaign)
    if _attempt(request, workflow.decide, delivery=delivery,
                seen=seen.Seen.from_post(request.POST),
                decision=request.POST.get("decision", "")):
        messages.success(request, _("Decision recorded for %(member)s.")
                         % {"member": delivery.member_number})
    return _back_to(campaign, request)


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request):
    """A person's notifications, newest first; opening the page marks them read."""
    mine = Notification.objects.filter(user=request.user).select_related("campaign")
    page = Paginator(mine, 50).get_page(request.GET.get("page"))
    unread = [n.pk for n in page.object_list if n.read_at is None]
    response = render(request, "campaigns/notifications.html", {"page": page,
                                                                "unread": set(unread)})
    Notification.objects.filter(pk__in=unread).update(read_at=timezone.now())
    return response


@role_required(Role.OPERATOR)
@require_POST
def campaign_duplicate(request, pk):
    campaign = _get_campaign_for(request, pk)
    rest_only = request.POST.get("rest") == "1"
    copy = _attempt(request, workflow.duplicate, campaign=campaign, rest_only=rest_only)
    if copy is None:
        return redirect(campaign)
    messages.success(request, ngettext(
        "A new draft for the %(count)s member this campaign did not reach: check it, then "
        "submit it for the whole countersign.",
        "A new draft for the %(count)s members this campaign did not reach: check it, then "
        "submit it for the whole countersign.", copy.roster.member_count)
        % {"count": f"{copy.roster.member_count:,}"} if rest_only else
        _("A copy of the campaign, as a new draft: check it, then submit it."))
    return redirect(copy)


@role_required(*access.roles_for(access.Data.MEMBER_ROWS))
@require_http_methods(["POST"])  # the query may be a name: never in a URL (access.search_query)
def member_search(request, pk):
    """For the test send's member picker: up to 20 members of the campaign's roster whose
    number or name starts with / contains what was typed (member data: the policy's roles)."""
    campaign = _get_campaign_for(request, pk)
    q = access.search_query(request)
    return JsonResponse({"members": [{"number": m.member_number, "name": m.name}
                                     for m in member_data.search(campaign.roster, q)]})
