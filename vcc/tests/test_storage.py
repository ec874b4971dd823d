"""Production's static files (vcc/storage.py): the page's ES modules import hashed names."""

import re
from typing import cast

from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command


def test_the_queue_modules_import_each_other_by_their_hashed_names(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "vcc.storage.StaticFilesStorage"},
    }
    # (Django rebuilds staticfiles_storage when the settings fixture changes STORAGES.)

    call_command("collectstatic", interactive=False, verbosity=0)
    hashed = cast(ManifestFilesMixin, staticfiles_storage).stored_name("deals/queue.js")

    imports = re.findall(r'from "([^"]+)"', (tmp_path / hashed).read_text())
    assert "./table.js" not in imports
    assert imports and all(re.fullmatch(r"\./\w+\.[0-9a-f]{12}\.js", name) for name in imports)
