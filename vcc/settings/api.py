"""Django REST framework and the OpenAPI schema."""

from .base import DEBUG

# ------------------------------------------------------------------------------
# Django REST framework and OpenAPI
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API client is told 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Looked up on every request: a revoked token, an ended session or a deactivated
        # user is refused at once (a per-process cache of them was measured and dropped).
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Each view names the permission each method needs (vcc/permissions.py; README: Roles).
    "DEFAULT_PERMISSION_CLASSES": ["vcc.permissions.RequiredPermission"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Service errors (vcc.errors) become the documented error body with their HTTP status.
    "EXCEPTION_HANDLER": "vcc.api.exception_handler",
    # JSON bodies only (the import view adds multipart for its file): any other body is a
    # documented 415, not a guess at a form.
    "DEFAULT_PARSER_CLASSES": ["vcc.api.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VCC deal intake API",
    "DESCRIPTION": "Deals checked in upstream in HubSpot, taken through the pipeline.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["vcc.permissions.CanReadApiDocs"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DealStatusEnum": "deals.models.Deal.Status",
        "HubspotStateEnum": "deals.models.Deal.HubspotState",
        "HubspotStateFilterEnum": "deals.queue_selectors.HUBSPOT_STATE_FILTERS",
        "RunStatusEnum": "deals.models.PipelineRun.Status",
        "StageEnum": "deals.models.Stage",
        "PassTriggerEnum": "deals.models.PipelinePass.Trigger",
        "SyncRunStatusEnum": "hubspot.models.SyncRun.Status",
        "SyncRunTriggerEnum": "hubspot.models.SyncRun.Trigger",
    },
}
