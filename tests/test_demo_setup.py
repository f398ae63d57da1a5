import smtplib
from email.message import EmailMessage
from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from countersign import mailcatcher
from countersign.roles import roles_of


def test_demo_users_get_one_role_each_and_can_log_in(db, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("create_demo_users", stdout=out)
    call_command("create_demo_users", stdout=out)  # running it twice is harmless
    for username, role in [("olivia", "operator"), ("sam", "supervisor"), ("oscar", "observer"),
                           ("audrey", "auditor")]:
        user = authenticate(RequestFactory().post("/accounts/login/"), username=username,
                            password=f"{username}-demo-pass")
        assert user is not None and roles_of(user) == {role}
        assert f"{username}-demo-pass" in out.getvalue()


def test_demo_users_are_refused_on_a_production_setup(db, settings):
    import pytest
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("create_demo_users", stdout=StringIO())


def test_the_mail_catcher_keeps_what_it_receives(smtp_sink):
    port, directory = smtp_sink
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.example", "b@y.example", "件名"
    message.set_content("本文です")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(message)
    (caught,) = mailcatcher.caught(directory)
    assert caught["Subject"] == "件名" and "本文です" in caught.get_content()
