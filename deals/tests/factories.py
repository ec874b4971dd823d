from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from deals.models import Deal, DealWriteback, PipelinePass, PipelineRun, Stage
from deals.services import DealFromHubspot


class DealFactory(factory.django.DjangoModelFactory[Deal]):
    """A deal as ingestion makes it: with its first pass ("new from HubSpot") as its current
    one. `first_pass=False` makes one without, as a shell or a bulk insert would."""

    class Meta:
        model = Deal
        skip_postgeneration_save = True

    hubspot_deal_id = factory.Sequence(lambda n: str(9_000_000_000 + n))
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = Decimal("1250.00")
    deal_stage = "appointmentscheduled"
    hubspot_checked_in_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def first_pass(self: Deal, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted is not False:
            first = PipelinePass.objects.create(
                deal=self, trigger=PipelinePass.Trigger.NEW, started_at=self.created_at
            )
            Deal.objects.filter(id=self.id).update(current_pass=first)
            self.current_pass = first


class PipelinePassFactory(factory.django.DjangoModelFactory[PipelinePass]):
    """A pass that becomes its deal's current one, as starting a pass does (its deal, when
    made here, has no pass before it)."""

    class Meta:
        model = PipelinePass
        skip_postgeneration_save = True

    deal = factory.SubFactory(DealFactory, first_pass=False)
    trigger = PipelinePass.Trigger.NEW
    started_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def make_current(self: PipelinePass, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted is not False:
            Deal.objects.filter(id=self.deal_id).update(current_pass=self)
            self.deal.current_pass = self


def _current_pass(run) -> PipelinePass:
    """The deal's current pass, started (as "new") if it has none yet."""
    run.deal.refresh_from_db(fields=["current_pass"])
    return run.deal.current_pass or PipelinePassFactory.create(deal=run.deal)


class PipelineRunFactory(factory.django.DjangoModelFactory[PipelineRun]):
    class Meta:
        model = PipelineRun

    deal = factory.SubFactory(DealFactory)
    pipeline_pass = factory.LazyAttribute(_current_pass)
    stage = Stage.INTAKE
    status = PipelineRun.Status.SUCCEEDED
    attempt = factory.Sequence(lambda n: n + 1)
    started_at = factory.LazyFunction(timezone.now)
    ended_at = factory.LazyFunction(timezone.now)


class DealWritebackFactory(factory.django.DjangoModelFactory[DealWriteback]):
    """A deal's outcome queued for HubSpot, as the pipeline leaves a failed intake."""

    class Meta:
        model = DealWriteback

    deal = factory.SubFactory(DealFactory, status=Deal.Status.FAILED)
    outcome_status = factory.LazyAttribute(lambda w: w.deal.status)
    outcome_stage = Stage.INTAKE
    finished_at = factory.LazyFunction(timezone.now)
    queued_at = factory.LazyAttribute(lambda w: w.finished_at)
    updated_at = factory.LazyAttribute(lambda w: w.finished_at)


def deal_from_hubspot(hubspot_deal_id: str = "4001", **changes) -> DealFromHubspot:
    """A deal as a HubSpot read hands it to deals_upsert_from_hubspot; `changes` override."""
    fields = {
        "hubspot_deal_id": hubspot_deal_id,
        "name": "Harbour View",
        "amount": Decimal("1200.00"),
        "deal_stage": "appointmentscheduled",
        "hubspot_created_at": timezone.now() - timedelta(days=2),
        "hubspot_checked_in_at": timezone.now() - timedelta(hours=1),
        **changes,
    }
    return DealFromHubspot(**fields)
