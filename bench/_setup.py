"""Shared start of the benchmark scripts (run as `python bench/x.py` from the repo root)."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(*, debug: bool = False) -> None:
    """Django on a throw-away SQLite database unless DATABASE_URL names one. DEBUG is off by
    default, as in production: with it on, Django keeps a copy of every SQL statement."""
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    os.environ.setdefault("DEBUG", "true" if debug else "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client speaks plain http
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "countersign.settings")
    import django

    django.setup()


def user(username: str, organisation: str, role: str):
    """A benchmark user holding one role (created once per database)."""
    from django.contrib.auth.models import Group

    from countersign.models import User

    person, _created = User.objects.get_or_create(username=username, defaults={
        "organisation": organisation, "email": f"{username}@{organisation}.example"})
    person.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=person.pk)
