from datetime import datetime

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from vcc.errors import ApplicationError

from .models import RUN_RECORDED_FIELDS, Deal, DealWriteback, PipelinePass, PipelineRun
from .rules import Action, skipped_because
from .selectors import RUN_DETAIL_FIELDS
from .services import BULK_LIMIT, deal_writebacks_retry, deals_restart_selected

_RUN_FIELDS = ["stage", "attempt", "status", "started_at", "ended_at", "error"]


def _short(moment: datetime | None) -> str:
    """A timestamp in the site's time zone, short enough for a list column."""
    return localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


class PipelinePassInline(admin.TabularInline):
    """Every pass, newest first: what started it, who, from which stage."""

    model = PipelinePass
    fields = ("started_at", "trigger", "requested_by", "from_stage")
    readonly_fields = fields
    ordering = ["-started_at"]
    extra = 0
    can_delete = False
    verbose_name_plural = "passes through the pipeline, newest first"

    def has_add_permission(self, request: HttpRequest, obj: Deal | None = None) -> bool:
        return False


class PipelineRunInline(admin.TabularInline):
    model = PipelineRun
    readonly_fields = (*_RUN_FIELDS, "pipeline_pass")
    fields = readonly_fields
    ordering = ["started_at", "attempt"]
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[PipelineRun]:
        # What the stages recorded is on each run's own page, not in the deal's list.
        runs = super().get_queryset(request).select_related("pipeline_pass")
        return runs.defer(*RUN_DETAIL_FIELDS)

    def has_add_permission(self, request: HttpRequest, obj: Deal | None = None) -> bool:
        return False


_STARTED = {"rerun": "Re-run started", "retry": "Retry started"}


def _deals(n: int) -> str:
    return f"{n} deal" if n == 1 else f"{n} deals"


def _apply(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, action: Action):
    """Start the selection again through the operator lane, and say what really happened:
    how many started, how many were skipped and why (no green message for none)."""
    try:
        result = deals_restart_selected(
            action=action,
            deal_ids=list(queryset.values_list("id", flat=True)[: BULK_LIMIT + 1]),
            requested_by=request.user.get_username(),
        )
    except ApplicationError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return
    if result.count:
        modeladmin.message_user(
            request,
            f"{_STARTED[action]} for {_deals(result.count)}, ahead of the backlog.",
            messages.SUCCESS,
        )
    if result.skipped:
        reasons = ", ".join(
            f"{n} {'is' if n == 1 else 'are'} {skipped_because(action=action, key=key)}"
            for key, n in sorted(result.skipped.items())
        )
        rule = " Only failed deals can be retried." if action == "retry" else ""
        modeladmin.message_user(
            request,
            f"Skipped {_deals(sum(result.skipped.values()))}: {reasons}.{rule}",
            messages.WARNING,
        )


@admin.action(description="Re-run from scratch", permissions=["rerun"])
def rerun_from_scratch(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    _apply(modeladmin, request, queryset, "rerun")


@admin.action(description="Retry failed stage", permissions=["retry"])
def retry_failed_stage(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    _apply(modeladmin, request, queryset, "retry")


class HubspotStateFilter(admin.ChoicesFieldListFilter):
    """Active, archived (deleted in HubSpot) or merged; "By state in HubSpot"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "state in HubSpot"


def _in_hubspot(deal: Deal, *, link: bool, dated: bool) -> str:
    """Where the deal stands in HubSpot: active, deleted, or merged into another (a link to
    its page, with `link`), and since when (with `dated`)."""
    when = f" on {_short(deal.hubspot_state_at)}" if dated and deal.hubspot_state_at else ""
    if deal.hubspot_state == Deal.HubspotState.ARCHIVED:
        return f"deleted in HubSpot{when}"
    if deal.hubspot_state != Deal.HubspotState.MERGED:
        return "active"
    if deal.merged_into is None:
        return f"merged{when}"  # the survivor is not here (yet)
    survivor = _deal_link(deal.merged_into) if link else deal.merged_into.hubspot_deal_id
    return format_html("merged into {}{}", survivor, when)


def _deal_link(deal: Deal) -> SafeString:
    url = reverse("admin:deals_deal_change", args=[deal.pk])
    return format_html('<a href="{}">{}</a>', url, deal.hubspot_deal_id)


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    # Fits a 1400 px screen with the filters beside it: one line a deal (long names are cut,
    # whole on hover), where it is in one column, short timestamps.
    list_display = ["hubspot_deal_id", "short_name", "where", "checked_in", "updated"]
    list_display_links = ["hubspot_deal_id", "short_name"]
    list_filter = ["status", "current_stage", ("hubspot_state", HubspotStateFilter)]
    list_select_related = ["merged_into"]  # the survivor's HubSpot id, in the same query
    search_fields = ["hubspot_deal_id", "name"]
    date_hierarchy = "hubspot_checked_in_at"
    actions = [rerun_from_scratch, retry_failed_stage]
    inlines = [PipelinePassInline, PipelineRunInline]
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
        "in_hubspot",
        "merged_from_links",
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
                    "in_hubspot",
                    "merged_from_links",
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

    class Media:
        css = {"all": ["deals/admin.css"]}

    @admin.display(description="Name", ordering="name")
    def short_name(self, deal: Deal) -> str:
        return format_html('<span class="deal-name" title="{}">{}</span>', deal.name, deal.name)

    @admin.display(description="Where", ordering="status")
    def where(self, deal: Deal) -> str:
        """Where the pipeline has it; for a deal HubSpot deleted or merged away, that
        instead (the column has no room for both: when, and the pipeline, on hover)."""
        if deal.status == Deal.Status.DONE:
            pipeline = "done"
        else:
            preposition = "at" if deal.status == Deal.Status.FAILED else "·"
            pipeline = f"{deal.status} {preposition} {deal.current_stage}"
        if deal.hubspot_state == Deal.HubspotState.ACTIVE:
            return pipeline
        return format_html(
            '<span title="{}; pipeline: {}">{}</span>',
            _in_hubspot(deal, link=False, dated=True),
            pipeline,
            _in_hubspot(deal, link=True, dated=False),
        )

    @admin.display(description="In HubSpot", ordering="hubspot_state")
    def in_hubspot(self, deal: Deal) -> str:
        return _in_hubspot(deal, link=True, dated=True)

    @admin.display(description="Merged from")
    def merged_from_links(self, deal: Deal) -> str:
        """The deals HubSpot merged into this one, each a link to its own page."""
        merged = deal.merged_from.order_by("hubspot_state_at", "hubspot_deal_id")
        links = format_html_join(", ", "{}", ((_deal_link(other),) for other in merged))
        return links or "—"

    @admin.display(description="Checked in", ordering="hubspot_checked_in_at")
    def checked_in(self, deal: Deal) -> str:
        return _short(deal.hubspot_checked_in_at)

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, deal: Deal) -> str:
        return _short(deal.updated_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deals come from HubSpot

    # The actions' permissions (the operator role's): admin.action(permissions=[...]).
    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deals.rerun_deal")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deals.retry_deal")

    def has_delete_permission(self, request: HttpRequest, obj: Deal | None = None) -> bool:
        # A deleted deal would come back as new with the next sync, its history lost.
        return False


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["deal", "stage", "attempt", "status", "started_at", "ended_at"]
    list_filter = ["status", "stage"]
    search_fields = ["deal__hubspot_deal_id", "deal__name"]
    list_select_related = ["deal"]
    readonly_fields = ("id", "deal", "pipeline_pass", *_RUN_FIELDS, *RUN_RECORDED_FIELDS)
    fields = readonly_fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PipelineRun]:
        # The list leaves out what the stages recorded; a run's own page shows it.
        runs = super().get_queryset(request)
        url_name = getattr(request.resolver_match, "url_name", "") or ""
        return runs if url_name.endswith("_change") else runs.defer(*RUN_DETAIL_FIELDS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PipelineRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PipelineRun | None = None) -> bool:
        return False


@admin.action(description="Retry now (send to HubSpot on the next pass)", permissions=["retry"])
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
    readonly_fields = (
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
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # outcomes are queued by the pipeline

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deals.retry_writeback")

    def has_delete_permission(self, request: HttpRequest, obj: DealWriteback | None = None):
        return False
