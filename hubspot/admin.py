from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from vcc.errors import ApplicationError

from .models import COUNT_FIELDS, SyncRun
from .services import sync_run_request


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/hubspot/syncrun/change_list.html"
    list_display = ["created_at", "trigger", "status", *COUNT_FIELDS, "finished_at"]
    list_filter = ["status", "trigger"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["id", "trigger", "status", "error"]}),
        ("Window", {"fields": ["window_start", "window_end"]}),
        ("Timing", {"fields": ["created_at", "started_at", "heartbeat_at", "finished_at"]}),
        ("Counts", {"fields": COUNT_FIELDS}),
        ("Progress", {"fields": ["progress_current", "progress_total", "progress_message"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are made by syncing: use "Sync now"

    def has_change_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False

    def get_urls(self):
        sync_now = self.admin_site.admin_view(require_POST(self.sync_now_view))
        return [path("sync-now/", sync_now, name="hubspot_syncrun_sync_now"), *super().get_urls()]

    def sync_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if not self.has_view_permission(request):
            return redirect("admin:index")
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
