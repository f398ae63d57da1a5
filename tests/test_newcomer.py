"""What a newcomer trips over first: the demo has an administrator login, and an account with
no role that may use the admin is led there; commands print no django-axes banner first;
every page names its icon, so browsers ask for no /favicon.ico (a 404 in the log on every
page)."""

import os
import subprocess
import sys

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from countersign.models import User
from countersign.roles import roles_of
from tests.factories import client_for


def test_the_demo_has_an_administrator_login(db, settings, capsys):
    settings.DEBUG = True
    call_command("create_demo_users")
    admin = User.objects.get(username="admin")
    assert admin.check_password("admin-demo-pass") and admin.is_superuser and admin.is_staff
    assert roles_of(admin) == set()
    assert "admin-demo-pass" in capsys.readouterr().out


def test_an_administrator_without_a_role_is_led_to_the_admin(adam):
    page = client_for(adam).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'href="{reverse("admin:index")}"' in page


def test_a_command_prints_no_axes_banner():
    result = subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "check"],
                            env={**os.environ, "DEBUG": "true"}, capture_output=True, text=True,
                            check=True)
    assert "AXES" not in result.stdout + result.stderr


def test_every_page_names_an_icon_that_exists(olivia):
    for page in (client_for(olivia).get(reverse("home")),
                 Client().get(reverse("unsubscribe", args=["preview"]))):
        html = page.content.decode()
        assert '<link rel="icon" href="/static/countersign/favicon.svg"' in html
    assert finders.find("countersign/favicon.svg")
