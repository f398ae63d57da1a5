"""Error reports (Django's debug page with DEBUG on, the mails to ADMINS and the error log
with it off) show no local variables and no posted values: either may hold a member's data
(a row opened through the door, a comment, a search typed), and an error page, a mail or a
log is where erasure cannot reach. The code, the line and the exception's type find a fault."""

from django.views.debug import SafeExceptionReporterFilter


class MemberSafeReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request):
        return True  # with DEBUG on too: a demo's error page shows no member's row

    def get_post_parameters(self, request):
        if request is None:
            return {}
        return {key: self.cleansed_substitute for key in request.POST}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [("(local variables)", "not shown: they may hold member data")]
