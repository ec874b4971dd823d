"""Who may do what: every API operation and page names the permission it needs.

A view declares `required_permissions`, a map of HTTP method to a permission name
("deals.rerun_deal"), or a tuple of names of which any one will do (the view then checks the
one its input asks for, with `require_permission`). HEAD and OPTIONS need what GET needs.
The roles (viewer, operator, admin: groups made by deals/migrations/0015_roles.py) hold the
permissions; superusers hold them all. Staff only, as before: a user who is not staff is
refused whatever their groups. A method a view implements without declaring it is refused
to everyone but superusers (closed by default); one it does not implement gets its 405.
"""

import functools
from collections.abc import Callable, Mapping

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

Needed = str | tuple[str, ...]
_AS_GET = {"HEAD": "GET", "OPTIONS": "GET"}
# What the API's docs and schema need: anyone in a role can read them.
API_DOCS_PERMISSION = "deals.view_deal"


def _is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def missing_permission_message(needed: Needed) -> str:
    names = (needed,) if isinstance(needed, str) else needed
    return f"Your account lacks the permission {' or '.join(names)} this needs."


def permission_for(view: object, method: str) -> Needed | None:
    declared: Mapping[str, Needed] = getattr(view, "required_permissions", {})
    return declared.get(_AS_GET.get(method, method))


def user_may(user, needed: Needed) -> bool:
    names = (needed,) if isinstance(needed, str) else needed
    return _is_staff(user) and any(user.has_perm(name) for name in names)


def require_permission(request, needed: str) -> None:
    """For a view whose input decides the permission (a bulk action's `action`)."""
    if not user_may(request.user, needed):
        raise exceptions.PermissionDenied(missing_permission_message(needed))


class RequiredPermission(BasePermission):
    """The API's default permission: staff, holding what the view declares for the method."""

    message = "This API is for staff."

    def has_permission(self, request, view) -> bool:
        if not _is_staff(request.user):
            return False
        needed = permission_for(view, request.method)
        if needed is None:
            if request.user.is_superuser:
                return True
            # Undeclared: a method the view lacks answers 405; one it has stays closed.
            implemented = hasattr(view, request.method.lower())
            if implemented:
                self.message = f"{request.method} here declares no permission."
            return not implemented
        if user_may(request.user, needed):
            return True
        self.message = missing_permission_message(needed)
        return False


class CanReadApiDocs(RequiredPermission):
    """The schema and Swagger UI (drf-spectacular's views declare nothing themselves)."""

    def has_permission(self, request, view) -> bool:
        if user_may(request.user, API_DOCS_PERMISSION):
            return True
        if _is_staff(request.user):
            self.message = missing_permission_message(API_DOCS_PERMISSION)
        return False


def page_permission_required(
    needed: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For HTML pages: a visitor is sent to log in; a signed-in user without the permission
    is told no (403, naming it), rather than sent round to a login form they already passed."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_may(request.user, needed):
                raise PermissionDenied(missing_permission_message(needed))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
