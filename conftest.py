import pytest


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings):
    # Production serves hashed names from collectstatic's manifest; tests use the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
