import base64
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from countersign import access, association_key
from countersign.models import AssociationKey
from countersign.roles import Role, has_role, record_denied_request, role_required
from roster import data_keys, member_data, previews, services
from roster.forms import NamedMemberForm, PreviewRequestForm, RosterUploadForm
from roster.models import NamedMember, PreviewGrant, Roster, RosterUpload

# Who sees what: countersign.access (auditors see a roster's metadata, not its members).
ROSTER_READERS = access.roles_for(access.Data.ROSTER_METADATA)


@role_required(*ROSTER_READERS)
def roster_list(request):
    rosters = Roster.objects.select_related("imported_by")
    page = Paginator(rosters, 50).get_page(request.GET.get("page"))
    return render(request, "roster/list.html", {"page": page,
                                                "may_import": services.may_import(request.user)})


@role_required(*ROSTER_READERS)
@require_http_methods(["GET", "POST"])  # POST: a search (countersign.access.search_query)
def roster_detail(request, pk):
    roster = get_object_or_404(Roster.objects.select_related("imported_by"), pk=pk)
    context = {"roster": roster, "with_association": data_keys.with_association(roster),
               "can_see_members": access.may_see(request.user, access.Data.MEMBER_ROWS)}
    if context["with_association"] and context["can_see_members"] and not roster.purged_at:
        context["previewed"] = previews.current(roster)
        if has_role(request.user, Role.OBSERVER):
            context["preview_form"] = PreviewRequestForm()
            context["association_fingerprint"] = association_key.current_fingerprint()
    if context["can_see_members"]:
        q = access.search_query(request)
        context["q"], context["post_search"] = q, True
        context["page"] = member_data.page_of(roster, user=request.user, q=q,
                                              page=access.page_number(request))
    return render(request, "roster/detail.html", context)


def importer_required(view):
    """The roster's importer only (roster.services.importer_role: the association's observer
    once the association holds the keys, the contractor's operator before), told who it is."""
    @wraps(view)
    @role_required(Role.OPERATOR, Role.OBSERVER)
    def wrapped(request, *args, **kwargs):
        if not services.may_import(request.user):
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                record_denied_request(request, required=(services.importer_role(),))
            raise services.NotTheImporter(services.who_imports())
        return view(request, *args, **kwargs)

    return wrapped


@importer_required
@require_http_methods(["GET", "POST"])
def roster_upload(request):
    form = RosterUploadForm(request.POST or None, request.FILES or None)
    parsed = None
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        # Never read more than one byte past the limit: that is enough to refuse it.
        data = upload_file.read(settings.ROSTER_MAX_BYTES + 1)
        try:
            upload, parsed = services.roster_upload_check(
                data=data, filename=upload_file.name, name=form.cleaned_data["name"],
                actor=request.user,
            )
        except ValidationError as refusal:  # the name carries a member of the file
            form.add_error("name", refusal)
            upload = None
        if upload is not None:
            response = redirect("roster:upload_preview", upload.pk)
            if upload.uploader_key:  # a roster only the association will hold: the key of
                response.set_cookie(  # the waiting upload stays in this browser alone
                    _uploader_cookie(upload), base64.urlsafe_b64encode(upload.uploader_key)
                    .decode(), max_age=settings.ROSTER_UPLOAD_TTL_MINUTES * 60,
                    path=reverse("roster:upload_preview", args=[upload.pk]),
                    secure=request.is_secure(), httponly=True, samesite="Strict")
            return response
    return render(request, "roster/upload.html", {
        "form": form, "parsed": parsed, "held": services.importer_role() == Role.OBSERVER})


@importer_required
@require_http_methods(["GET", "POST"])
def roster_upload_preview(request, pk):
    # Only the person who uploaded a file may see or confirm it.
    upload = get_object_or_404(RosterUpload, pk=pk, uploaded_by=request.user)
    if request.method == "POST":
        if "cancel" in request.POST:
            services.roster_upload_cancel(upload=upload, actor=request.user)
            messages.info(request, _("The upload was discarded; nothing was stored."))
            return _without_uploader_key(redirect("roster:list"), upload)
        try:
            roster = services.roster_upload_confirm(upload=upload, actor=request.user,
                                                    uploader_key=_uploader_key(request, upload))
        except association_key.KeyNotAsRegistered as refusal:
            messages.error(request, str(refusal))
            return redirect("roster:list")
        except services.UploadExpired:
            messages.error(request, _("This upload waited too long and expired. Upload the "
                                      "file again."))
            return redirect("roster:upload")
        messages.success(
            request,
            _("Imported %(count)s members into “%(name)s”.")
            % {"count": f"{roster.member_count:,}", "name": roster.name},
        )
        return _without_uploader_key(redirect(roster), upload)
    preview = member_data.held_preview(upload, _uploader_key(request, upload))
    if not preview:
        messages.error(request, _("This upload cannot be shown any more (it expired, or it "
                                  "was made in another browser). Upload the file again."))
        return redirect("roster:upload")
    return render(request, "roster/upload_preview.html", {"upload": upload, "preview": preview})


def _uploader_cookie(upload) -> str:
    return f"roster_upload_{upload.pk}"


def _without_uploader_key(response, upload):
    response.delete_cookie(_uploader_cookie(upload),
                           path=reverse("roster:upload_preview", args=[upload.pk]))
    return response


def _uploader_key(request, upload) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(request.COOKIES[_uploader_cookie(upload)])
    except (KeyError, ValueError):
        return None


@role_required(Role.OBSERVER)
@require_http_methods(["GET", "POST"])
def reseal(request):
    """Rosters only the association holds the key of, sealed to an earlier key of it: the
    observer downloads the reseal request, answers it with the key tool and the older key,
    and hands the answer in here."""
    if request.method == "POST":
        upload = request.FILES.get("reseal")
        try:
            done = data_keys.accept_reseal(upload.read(1_000_001) if upload else b"",
                                           actor=request.user)
        except data_keys.ResealRefused as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, ngettext(
                "%(count)s roster is sealed to the association's current key too.",
                "%(count)s rosters are sealed to the association's current key too.",
                len(done)) % {"count": len(done)})
        return redirect("roster:reseal")
    if request.GET.get("download"):
        response = JsonResponse(data_keys.reseal_request(), json_dumps_params={"indent": 1})
        response["Content-Disposition"] = 'attachment; filename="reseal-request.json"'
        return response
    return render(request, "roster/reseal.html", {
        "waiting": data_keys.sealed_to_an_earlier_key(),
        "current": association_key.current_fingerprint(),
        "retired": data_keys.retired_keys(), "backup_days": settings.BACKUP_RETENTION_DAYS})


@role_required(Role.OBSERVER)
@require_http_methods(["POST"])
def key_destroyed(request, pk):
    """The association's observer records that it destroyed a retired key."""
    key = get_object_or_404(AssociationKey, pk=pk)
    try:
        data_keys.record_key_destroyed(key, actor=request.user)
    except data_keys.KeyNotDestroyable as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("Recorded: the key is destroyed. Backups that hold data "
                                    "keys sealed to it open with nothing now."))
    return redirect("roster:reseal")


@role_required(Role.OBSERVER)
@require_http_methods(["GET", "POST"])
def named_members(request):
    """The association's list of members who may be named in any notice (officers)."""
    form = NamedMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.add_named_member(actor=request.user, **form.cleaned_data)
        messages.success(request, _("Saved. The content guard lets this member's name pass "
                                    "until the day you set."))
        return redirect("roster:named")
    return render(request, "roster/named.html", {
        "form": form, "current": NamedMember.objects.current().select_related("added_by"),
        "past": NamedMember.objects.exclude(pk__in=NamedMember.objects.current()).select_related(
            "added_by", "revoked_by")[:50]})


@role_required(Role.OBSERVER)
@require_http_methods(["POST"])
def named_member_revoke(request, pk):
    services.revoke_named_member(named=get_object_or_404(NamedMember, pk=pk), actor=request.user)
    messages.success(request, _("Revoked: the content guard counts this member's name again."))
    return redirect("roster:named")


@role_required(Role.OBSERVER)
@require_http_methods(["POST"])
def preview_grant(request, pk):
    """The observer asks for a preview request (downloaded, for the key tool) or hands in
    the key tool's answer: a few members of a held roster shown for real until a deadline."""
    roster = get_object_or_404(Roster, pk=pk)
    try:
        if "answer" in request.FILES:
            shown = previews.accept(request.FILES["answer"].read(1_000_001), roster=roster,
                                    actor=request.user)
            messages.success(request, _("Previews and test messages show these members' real "
                                        "values until the deadline: %(numbers)s.")
                             % {"numbers": ", ".join(shown)})
            return redirect(roster)
        form = PreviewRequestForm(request.POST)
        if not form.is_valid():
            raise previews.PreviewRefused(" ".join(
                str(error) for errors in form.errors.values() for error in errors))
        answer = previews.request_for(
            roster, previews.member_numbers(form.cleaned_data["members"]),
            days=form.cleaned_data["days"], reason=form.cleaned_data["reason"],
            actor=request.user)
    except previews.PreviewRefused as refusal:
        messages.error(request, str(refusal))
        return redirect(roster)
    response = JsonResponse(answer, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = (
        f'attachment; filename="preview-request-roster-{roster.pk}.json"')
    return response


@role_required(Role.OBSERVER)
@require_http_methods(["POST"])
def preview_revoke(request, pk):
    grant = get_object_or_404(PreviewGrant, pk=pk)
    previews.revoke(grant, actor=request.user)
    messages.success(request, _("Revoked: previews show this member with synthetic values "
                                "again."))
    return redirect(grant.roster)
