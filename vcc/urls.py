from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from deals.views import queue_page

from .health import healthz, readyz
from .metrics import metrics
from .token_admin import token_admin_install


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """API clients get the API's error body for a path no route matches (a malformed id,
    say); people get the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


# The admin says whose it is, not "Django administration"; and its lists get the width of
# the screen (a handful of apps need no navigation sidebar: breadcrumbs and the index do).
admin.site.site_header = "VCC deal intake"
admin.site.site_title = "VCC deal intake admin"
admin.site.enable_nav_sidebar = False
token_admin_install(admin.site)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="queue"), name="home"),
    path("queue/", queue_page, name="queue"),
    path("admin/", admin.site.urls),
    # Log in and out only: there is no e-mail to reset a password with (staff ask an admin).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("deals.urls")),
    path("api/", include("hubspot.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file (?script): no inline script, for the CSP.
    path(
        "api/docs/",
        # Swagger UI sets inline styles as it draws (never inline script): the docs alone.
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="swagger-ui",
    ),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
