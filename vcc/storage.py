"""Static files in production: hashed, compressed, and ES module imports hashed too."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    # The queue page's modules import each other by relative path; without this the
    # imports would name the unhashed files, which whitenoise cannot cache for long.
    support_js_module_import_aggregation = True
