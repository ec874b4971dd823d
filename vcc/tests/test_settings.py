"""Settings come from the environment; production defaults are safe."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PRODUCTION = {
    "DJANGO_SECRET_KEY": "k3Jq9-vX2pLr8ZtW0sYc4NbH7mGe1QaU5dFi6oKj_TyRw2Ex9Lz",
    "DJANGO_ALLOWED_HOSTS": "vcc.example.com",
    "DATABASE_URL": "postgres://vcc@db.internal:5432/vcc",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUBSPOT_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_READ_DOT_ENV_FILE": "false", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_a_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)"
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION)
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_it_refuses_to_start_without_a_secret_key_in_production():
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_with_no_urls_it_uses_the_embedded_engines_of_bin_run():
    code = (
        "from django.conf import settings; db = settings.DATABASES['default']; "
        "print(db['ENGINE'], db['NAME'], db['OPTIONS']['host'], settings.CELERY_BROKER_URL, "
        "settings.REDIS_URL)"
    )
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={"DJANGO_DEBUG": "true", "DATABASE_URL": "", "CELERY_BROKER_URL": "", "REDIS_URL": ""},
    )
    var = Path(settings.BASE_DIR) / "var" / "dev"
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "vcc",
        str(var),
        f"redis+socket://{var}/redis.sock",
        f"unix://{var}/redis.sock",
    ], result.stderr


def test_the_rate_limiter_shares_the_brokers_redis_unless_told_otherwise():
    code = "from django.conf import settings; print(settings.REDIS_URL)"
    result = _manage("shell", "--no-imports", "-c", code, env={**PRODUCTION, "REDIS_URL": ""})
    assert result.stdout.split() == ["redis://redis.internal:6379/0"], result.stderr

    result = _manage(
        "shell", "--no-imports", "-c", code, env={**PRODUCTION, "REDIS_URL": "redis://other:6379/2"}
    )
    assert result.stdout.split() == ["redis://other:6379/2"], result.stderr


def test_only_postgresql_and_redis_are_accepted():
    # Any other scheme is refused at start-up, with what to set instead.
    database = _manage("check", env={**PRODUCTION, "DATABASE_URL": "http://127.0.0.1/db"})
    broker = _manage("check", env={**PRODUCTION, "CELERY_BROKER_URL": "http://127.0.0.1/"})

    assert "DATABASE_URL must name a PostgreSQL database" in database.stderr
    assert "CELERY_BROKER_URL must name a Redis server" in broker.stderr


def test_an_api_path_no_route_matches_answers_the_json_error_body(admin_client):
    response = admin_client.post("/api/deals/not-a-uuid/process/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_write_back_properties_are_a_comma_list_or_a_json_object():
    code = "from django.conf import settings; print(settings.HUBSPOT_WRITEBACK_PROPERTIES)"
    listed = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={**PRODUCTION, "HUBSPOT_WRITEBACK_PROPERTIES": "a_status, a_stage ,a_finished"},
    )
    mapped = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={**PRODUCTION, "HUBSPOT_WRITEBACK_PROPERTIES": '{"status": "outcome"}'},
    )
    wrong = _manage("check", env={**PRODUCTION, "HUBSPOT_WRITEBACK_PROPERTIES": "only,two"})

    assert listed.stdout.strip() == (
        "{'status': 'a_status', 'stage': 'a_stage', 'finished_at': 'a_finished'}"
    ), listed.stderr
    assert mapped.stdout.strip() == "{'status': 'outcome'}", mapped.stderr
    assert wrong.returncode != 0
    assert "HUBSPOT_WRITEBACK_PROPERTIES: three comma-separated names" in wrong.stderr


def test_hubspot_must_be_reached_over_https_but_on_this_machine():
    refused = _manage("check", env={**PRODUCTION, "HUBSPOT_BASE_URL": "http://api.hubapi.com"})
    local = _manage("check", env={**PRODUCTION, "HUBSPOT_BASE_URL": "http://127.0.0.1:8765"})

    assert refused.returncode != 0
    assert "HUBSPOT_BASE_URL must be https://" in refused.stderr
    assert local.returncode == 0, local.stderr


def test_the_settings_never_read_var_env_unless_told_and_manage_py_says_when_it_does():
    dot_env = Path(settings.BASE_DIR) / "var" / ".env"  # bin/run's, or one like it
    made = not dot_env.exists()
    if made:
        dot_env.write_text("DJANGO_DEBUG=true\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUBSPOT_"))}
    env = {**env, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "vcc.settings"}
    code = "from django.conf import settings; print(settings.DEBUG)"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
        )

    try:
        alone = run("-c", f"import django; django.setup(); {code}")  # as celery loads them
        managed = run("manage.py", "shell", "--no-imports", "-c", code)
    finally:
        if made:
            dot_env.unlink()

    assert alone.stdout.strip() == "False", alone.stderr  # a deploy from this checkout
    assert managed.stdout.strip() == "True", managed.stderr
    assert managed.stderr.count("manage.py: reading var/.env") == 1
