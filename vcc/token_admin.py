"""The API tokens' admin: DRF's own lists every key in full to anyone who may view tokens.
Ours shows a prefix, enough to tell tokens apart, and lets an admin revoke one (delete);
tokens are made with `manage.py drf_create_token USER`, which prints the key once."""

from django.contrib import admin
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

PREFIX_LENGTH = 6


class TokenPrefixAdmin(TokenAdmin):
    list_display = ("prefix", "user", "created")
    fields = ("prefix", "user", "created")
    readonly_fields = fields

    @admin.display(description="Key")
    def prefix(self, token: TokenProxy) -> str:
        return f"{token.key[:PREFIX_LENGTH]}…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the key would have to be shown: drf_create_token prints it once

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def token_admin_install(site: admin.AdminSite) -> None:
    if site.is_registered(TokenProxy):
        site.unregister(TokenProxy)
    site.register(TokenProxy, TokenPrefixAdmin)
