import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from countersign.models import Organisation
from countersign.roles import Role, has_role, roles_of
from tests.factories import client_for, make_user


def test_observer_role_is_refused_for_a_contractor_user(sam):
    with pytest.raises(ValidationError), transaction.atomic():
        sam.groups.add(Group.objects.get(name=Role.OBSERVER))
    assert not sam.groups.filter(name=Role.OBSERVER).exists()


def test_observer_role_is_refused_when_added_from_the_group_side(sam):
    with pytest.raises(ValidationError):
        Group.objects.get(name=Role.OBSERVER).user_set.add(sam)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR])
def test_contractor_roles_are_refused_for_an_association_user(oscar, role):
    with pytest.raises(ValidationError):
        oscar.groups.add(Group.objects.get(name=role))


def test_auditor_role_fits_both_organisations(db):
    make_user("a1", Organisation.CONTRACTOR, Role.AUDITOR)
    make_user("a2", Organisation.ASSOCIATION, Role.AUDITOR)


def test_a_misfit_role_slipped_into_the_database_grants_nothing(sam):
    observers = Group.objects.get(name=Role.OBSERVER)
    sam.groups.through.objects.bulk_create([sam.groups.through(user=sam, group=observers)])
    sam.refresh_from_db()
    assert roles_of(sam) == {Role.SUPERVISOR}
    assert not has_role(sam, Role.OBSERVER)


def test_inactive_user_holds_no_role(olivia):
    olivia.is_active = False
    olivia.save()
    assert roles_of(olivia) == frozenset()


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("roster:list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_user_without_role_gets_403_on_role_pages(mallory):
    client = client_for(mallory)
    assert client.get(reverse("roster:list")).status_code == 403
    assert client.get(reverse("roster:upload")).status_code == 403


def test_user_without_role_sees_home_telling_them_so(mallory):
    response = client_for(mallory).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "no role yet" in response.content.decode()


def test_login_page_logs_a_user_in(olivia, client):
    response = client.post(reverse("login"), {"username": "olivia", "password": "olivia-test-pass"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_logout_is_a_post(olivia):
    client = client_for(olivia)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_admin_refuses_observer_group_for_contractor_user(db, sam, admin_client):
    observers = Group.objects.get(name=Role.OBSERVER)
    response = admin_client.post(
        f"/admin/countersign/user/{sam.pk}/change/",
        {
            "username": "sam", "organisation": Organisation.CONTRACTOR,
            "groups": [observers.pk], "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "cannot be held" in response.content.decode()
    assert not sam.groups.filter(name=Role.OBSERVER).exists()
