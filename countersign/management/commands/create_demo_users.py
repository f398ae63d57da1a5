from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from countersign import accounts, people
from countersign.models import Organisation, User
from countersign.roles import Role

# username, role, organisation, family name, given name (Japanese order in the UI)
DEMO_USERS = [
    ("olivia", Role.OPERATOR, Organisation.CONTRACTOR, "小野", "里美"),
    ("sam", Role.SUPERVISOR, Organisation.CONTRACTOR, "佐藤", "誠"),
    ("oscar", Role.OBSERVER, Organisation.ASSOCIATION, "大石", "修"),
    ("audrey", Role.AUDITOR, Organisation.ASSOCIATION, "青木", "綾"),
]


# The demo's administrator: the Django admin (accounts and roles), no role in the app.
DEMO_ADMIN = ("admin", Organisation.CONTRACTOR, "管理", "太郎")


def demo_password(username: str) -> str:
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their logins. Demo machines only."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true",
                            help="run even with DEBUG off (never on a real installation)")

    @transaction.atomic
    def handle(self, *args, allow_production=False, **options):
        # Setting an installation up: the association's demo people get their roles at once
        # (each audit entry says "set_up"), not after another observer's countersign.
        with accounts.acting_as("cli"), people.setting_up():
            self._create(allow_production)

    def _create(self, allow_production):
        if not settings.DEBUG and not allow_production:
            raise CommandError("refusing to create demo users with DEBUG off")
        rows = []
        for username, role, organisation, last_name, first_name in DEMO_USERS:
            user, _created = User.objects.get_or_create(
                username=username, defaults={"organisation": organisation}
            )
            user.organisation = organisation
            user.first_name, user.last_name = first_name, last_name
            user.email = f"{username}@{organisation}.example"
            user.set_password(demo_password(username))
            user.save()
            # A demo login is meant to be shared: unlike a password an administrator sets,
            # it need not be replaced at the first sign-in (the change is still audited).
            user.must_change_password = False
            user.save(update_fields=["must_change_password"])
            user.groups.set([Group.objects.get(name=role)])
            rows.append((username, demo_password(username), role, organisation))
        username, organisation, last_name, first_name = DEMO_ADMIN
        admin, _created = User.objects.get_or_create(
            username=username, defaults={"organisation": organisation})
        admin.organisation, admin.is_staff, admin.is_superuser = organisation, True, True
        admin.first_name, admin.last_name = first_name, last_name
        admin.email = f"{username}@{organisation}.example"
        admin.set_password(demo_password(username))
        admin.save()
        admin.must_change_password = False
        admin.save(update_fields=["must_change_password"])
        rows.append((username, demo_password(username), "(admin)", organisation))
        self.stdout.write("Demo logins (username / password / role / organisation):")
        for row in rows:
            self.stdout.write("  {:<8} {:<20} {:<11} {}".format(*row))
