"""Django's model backend, reading a user's permissions in one static query instead of
two ORM ones (their own and their groups'): every API request asks, the queue page's polls
included (bench/queue_tabs.py)."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db import connection

# The default auth models' tables (AUTH_USER_MODEL is Django's own).
_PERMISSIONS_SQL = """
SELECT ct.app_label || '.' || p.codename
FROM auth_permission AS p JOIN django_content_type AS ct ON ct.id = p.content_type_id
WHERE %(all)s OR p.id IN (
    SELECT permission_id FROM auth_user_user_permissions WHERE user_id = %(user)s
    UNION
    SELECT gp.permission_id FROM auth_group_permissions AS gp
    JOIN auth_user_groups AS ug ON ug.group_id = gp.group_id WHERE ug.user_id = %(user)s
)
"""


class PermissionsInOneQueryBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):  # ModelBackend's cache, for this request
            with connection.cursor() as cursor:
                cursor.execute(
                    _PERMISSIONS_SQL, {"all": user_obj.is_superuser, "user": user_obj.pk}
                )
                user_obj._perm_cache = {name for (name,) in cursor.fetchall()}
        return user_obj._perm_cache


def client_ip(request) -> str | None:
    """The client's address, for login throttling: the peer, or with DJANGO_PROXY_HOPS set,
    the address our own proxy saw (the one it appended to X-Forwarded-For: a client can
    write anything before it, never after)."""
    hops = settings.DJANGO_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if hops and len(forwarded) >= hops and forwarded[-hops]:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")
