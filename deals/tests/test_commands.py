import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_the_demo_has_one_account_per_role_each_with_its_name_as_password(
    settings, django_user_model, capsys
):
    settings.DEBUG = True

    call_command("ensure_demo_user")
    call_command("ensure_demo_user")  # a second run changes nothing

    out = capsys.readouterr().out
    for name in ("viewer", "operator", "admin"):
        user = django_user_model.objects.get(username=name)
        assert user.check_password(name) and user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == [name]
        assert f"created the demo account {name} / {name}" in out
    assert django_user_model.objects.get(username="admin").is_superuser
    assert not django_user_model.objects.get(username="operator").is_superuser


def test_no_demo_accounts_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG is off"):
        call_command("ensure_demo_user")
