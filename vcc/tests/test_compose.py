"""Compose's production stack, read as the file it is (no Docker engine here): the proxy is
the only published service; the app holds no superuser, Redis a password, flower nothing
of the app's secrets."""

from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_only_the_proxy_publishes_ports():
    published = {name for name, service in SERVICES.items() if service.get("ports")}

    assert published == {"proxy"}
    assert SERVICES["web"]["expose"] == ["8000"]


def test_the_proxy_sends_the_app_and_flower_and_the_app_trusts_one_hop():
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    mounted = [volume.split(":")[0] for volume in SERVICES["proxy"]["volumes"]]

    assert "./deploy/Caddyfile" in mounted
    assert "reverse_proxy web:8000" in caddyfile and "reverse_proxy flower:5555" in caddyfile
    assert "trusted_proxies" not in caddyfile  # forwarded headers from clients are replaced
    assert SERVICES["web"]["environment"]["DJANGO_PROXY_HOPS"] == "1"


def test_redis_needs_a_password_and_the_app_sends_it():
    env = SERVICES["web"]["environment"]

    assert "--requirepass" in " ".join(SERVICES["redis"]["command"])
    assert env["CELERY_BROKER_URL"].startswith("redis://:${REDIS_PASSWORD")


def test_the_app_signs_in_to_postgresql_as_a_role_that_is_not_a_superuser():
    superuser = SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    app_url = SERVICES["web"]["environment"]["DATABASE_URL"]
    made = SERVICES["db-role"]["command"][-1]

    assert app_url.startswith("postgres://vcc:") and superuser != "vcc"
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in made
    assert SERVICES["migrate"]["depends_on"]["db-role"] == {
        "condition": "service_completed_successfully"
    }


def test_flower_gets_the_broker_and_its_own_auth_only():
    flower = SERVICES["flower"]

    assert set(flower["environment"]) == {
        "CELERY_BROKER_URL",
        "FLOWER_BASIC_AUTH",
        "FLOWER_URL_PREFIX",
    }
    assert "<<" not in flower and "DJANGO_SECRET_KEY" not in str(flower)
