from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from vcc.errors import ApplicationError

from .models import Deal, DealWriteback, PipelineRun
from .services import deal_rerun, deal_retry, deal_writebacks_retry

_RUN_FIELDS = ["stage", "attempt", "status", "started_at", "ended_at", "error"]


class PipelineRunInline(admin.TabularInline):
    model = PipelineRun
    fields = _RUN_FIELDS
    readonly_fields = _RUN_FIELDS
    ordering = ["started_at", "attempt"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Deal | None = None) -> bool:
        return False


def _apply(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, action) -> None:
    enqueued, skipped = 0, []
    for deal in queryset.only("id", "hubspot_deal_id"):
        try:
            action(deal_id=deal.id)
        except ApplicationError as exc:
            skipped.append(f"{deal.hubspot_deal_id} ({exc})")
        else:
            enqueued += 1
    modeladmin.message_user(request, f"Enqueued {enqueued} deal(s).", messages.SUCCESS)
    if skipped:
        modeladmin.message_user(
            request,
            f"Skipped {len(skipped)} deal(s): "
            + "; ".join(skipped[:20])
            + (" ..." if len(skipped) > 20 else ""),
            messages.WARNING,
        )


@admin.action(description="Re-run from scratch")
def rerun_from_scratch(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    _apply(modeladmin, request, queryset, deal_rerun)


@admin.action(description="Retry failed stage")
def retry_failed_stage(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    _apply(modeladmin, request, queryset, deal_retry)


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = [
        "hubspot_deal_id",
        "name",
        "status",
        "current_stage",
        "hubspot_checked_in_at",
        "updated_at",
    ]
    list_filter = ["status", "current_stage"]
    search_fields = ["hubspot_deal_id", "name"]
    date_hierarchy = "hubspot_checked_in_at"
    actions = [rerun_from_scratch, retry_failed_stage]
    inlines = [PipelineRunInline]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over a million deals on every page is slow
    # HubSpot owns the deal's data and the pipeline owns its progress: nothing here is
    # edited by hand. Use the actions to start a deal again.
    readonly_fields = [
        "id",
        "hubspot_deal_id",
        "name",
        "amount",
        "deal_stage",
        "hubspot_created_at",
        "hubspot_checked_in_at",
        "status",
        "current_stage",
        "enqueued_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            "HubSpot",
            {
                "fields": [
                    "hubspot_deal_id",
                    "name",
                    "amount",
                    "deal_stage",
                    "hubspot_created_at",
                    "hubspot_checked_in_at",
                ]
            },
        ),
        (
            "Pipeline",
            {
                "fields": [
                    "id",
                    "status",
                    "current_stage",
                    "enqueued_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deals come from HubSpot

    def has_delete_permission(self, request: HttpRequest, obj: Deal | None = None) -> bool:
        # A deleted deal would come back as new with the next sync, its history lost.
        return False


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["deal", "stage", "attempt", "status", "started_at", "ended_at"]
    list_filter = ["status", "stage"]
    search_fields = ["deal__hubspot_deal_id", "deal__name"]
    list_select_related = ["deal"]
    readonly_fields = ["id", "deal", *_RUN_FIELDS]
    fields = readonly_fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PipelineRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PipelineRun | None = None) -> bool:
        return False


@admin.action(description="Retry now (send to HubSpot on the next pass)")
def retry_writeback_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    deal_ids = list(queryset.values_list("deal_id", flat=True))
    queued = deal_writebacks_retry(deal_ids=deal_ids, now=timezone.now())
    modeladmin.message_user(request, f"Queued {queued} outcome(s) for HubSpot.", messages.SUCCESS)
    if queued < len(deal_ids):
        modeladmin.message_user(
            request,
            f"Left {len(deal_ids) - queued} alone: already sent, or being sent now.",
            messages.WARNING,
        )


@admin.register(DealWriteback)
class DealWritebackAdmin(admin.ModelAdmin):
    """Outcomes written back to HubSpot: filter on `error` for the ones that gave up."""

    list_display = [
        "deal",
        "outcome_status",
        "outcome_stage",
        "state",
        "retry_count",
        "next_retry_at",
        "last_error",
        "updated_at",
    ]
    list_filter = ["state", "outcome_status"]
    search_fields = ["deal__hubspot_deal_id", "deal__name"]
    list_select_related = ["deal"]
    actions = [retry_writeback_now]
    show_full_result_count = False
    readonly_fields = [
        "deal",
        "outcome_status",
        "outcome_stage",
        "finished_at",
        "state",
        "version",
        "retry_count",
        "next_retry_at",
        "last_error",
        "claimed_at",
        "queued_at",
        "sent_at",
        "updated_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # outcomes are queued by the pipeline

    def has_delete_permission(self, request: HttpRequest, obj: DealWriteback | None = None):
        return False
