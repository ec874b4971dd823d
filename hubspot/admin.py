import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from vcc.errors import ApplicationError
from vcc.permissions import missing_permission_message

from .models import (
    COUNT_FIELDS,
    REJECTIONS_KEPT,
    DealImport,
    DealImportItem,
    DealPayload,
    SyncRejection,
    SyncRun,
    WebhookEvent,
)
from .selectors import deal_import_totals
from .services import deal_import_create, import_ids_validate, sync_run_request


class SyncRejectionInline(admin.TabularInline):
    """The records the sync rejected, and why (the first REJECTIONS_KEPT; `invalid` counts
    them all)."""

    model = SyncRejection
    fields = ("hubspot_deal_id", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "rejected record"
    verbose_name_plural = f"Rejected records (the first {REJECTIONS_KEPT:,} of a sync)"

    def has_add_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/hubspot/syncrun/change_list.html"
    inlines = [SyncRejectionInline]
    list_display = ["created_at", "trigger", "kind", "status", "summary", "finished_at"]
    list_filter = ["status", "trigger", "kind"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["id", "trigger", "kind", "status", "summary", "error"]}),
        ("Window", {"fields": ["window_start", "window_end"]}),
        ("Timing", {"fields": ["created_at", "started_at", "heartbeat_at", "finished_at"]}),
        ("Counts", {"fields": COUNT_FIELDS}),
        ("Reconcile", {"fields": ["archived", "restored", "merged"]}),
        ("Progress", {"fields": ["progress_current", "progress_total", "progress_message"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are made by syncing: use "Sync now"

    def has_change_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False

    def get_urls(self):
        sync_now = self.admin_site.admin_view(require_POST(self.sync_now_view))
        return [path("sync-now/", sync_now, name="hubspot_syncrun_sync_now"), *super().get_urls()]

    def has_start_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("hubspot.start_sync")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # The "Sync now" button shows only to those who may press it.
        extra_context = {
            **(extra_context or {}),
            "can_start_sync": self.has_start_sync_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def sync_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if not self.has_start_sync_permission(request):
            raise PermissionDenied(missing_permission_message("hubspot.start_sync"))
        try:
            run, created = sync_run_request(trigger=SyncRun.Trigger.MANUAL)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:hubspot_syncrun_changelist"))
        if created:
            self.message_user(request, "Sync queued; its progress shows below.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"A sync is already {run.status}; not starting a second one.",
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:hubspot_syncrun_changelist"))


class ImportIdsForm(forms.Form):
    hubspot_deal_ids = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}), label="HubSpot deal ids"
    )

    def clean_hubspot_deal_ids(self) -> list[str]:
        values = re.split(r"[\s,;]+", self.cleaned_data["hubspot_deal_ids"].strip())
        try:
            return import_ids_validate([value for value in values if value])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


class DealImportItemInline(admin.TabularInline):
    model = DealImportItem
    fields = ("position", "hubspot_deal_id", "status", "error", "deal_id", "finished_at")
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DealImport)
class DealImportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status", "total", "created_by", "finished_at"]
    list_filter = ["status"]
    readonly_fields = (
        "id",
        "status",
        "total",
        "totals",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    fields = readonly_fields
    inlines = [DealImportItemInline]

    @admin.display(description="Items")
    def totals(self, obj: DealImport) -> str:
        counts = deal_import_totals(import_id=obj.id)
        return ", ".join(f"{name}={count}" for name, count in counts.items())

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        paste = self.admin_site.admin_view(self.paste_view)
        return [path("add/", paste, name="hubspot_dealimport_add"), *super().get_urls()]

    def paste_view(self, request: HttpRequest):
        """The "add" page: a form to paste ids, handled by the import service."""
        if not self.has_add_permission(request):
            raise PermissionDenied(missing_permission_message("hubspot.add_dealimport"))
        form = ImportIdsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                deal_import = deal_import_create(
                    hubspot_deal_ids=form.cleaned_data["hubspot_deal_ids"],
                    created_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request, f"Importing {deal_import.total} deal(s).", messages.SUCCESS
                )
                return redirect("admin:hubspot_dealimport_change", deal_import.id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import deals by HubSpot id",
            "form": form,
        }
        return render(request, "admin/hubspot/dealimport/paste.html", context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "subscription_type",
        "hubspot_deal_id",
        "status",
        "outcome",
        "attempts",
    ]
    list_filter = ["status", "outcome", "subscription_type"]
    search_fields = ["hubspot_deal_id"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DealPayload)
class DealPayloadAdmin(admin.ModelAdmin):
    """The HubSpot JSON last fetched for a deal: search by HubSpot deal id."""

    list_display = ["hubspot_deal_id", "source", "size_bytes", "truncated", "fetched_at"]
    list_filter = ["source", "truncated"]
    search_fields = ["=hubspot_deal_id"]
    fields = ("hubspot_deal_id", "source", "fetched_at", "size_bytes", "truncated", "pretty")
    readonly_fields = fields
    show_full_result_count = False

    class Media:
        css = {"all": ["deals/admin.css"]}  # no inline styles: the CSP allows none

    @admin.display(description="Payload")
    def pretty(self, obj: DealPayload) -> str:
        text = json.dumps(obj.payload, indent=2, ensure_ascii=False)
        return format_html('<pre class="payload">{}</pre>', text)  # styled by admin.css

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
