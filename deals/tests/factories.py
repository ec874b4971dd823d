from decimal import Decimal

import factory
from django.utils import timezone

from deals.models import Deal, PipelineRun, Stage


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    hubspot_deal_id = factory.Sequence(lambda n: str(9_000_000_000 + n))
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = Decimal("1250.00")
    deal_stage = "appointmentscheduled"
    hubspot_checked_in_at = factory.LazyFunction(timezone.now)


class PipelineRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PipelineRun

    deal = factory.SubFactory(DealFactory)
    stage = Stage.INTAKE
    status = PipelineRun.Status.SUCCEEDED
    attempt = factory.Sequence(lambda n: n + 1)
    started_at = factory.LazyFunction(timezone.now)
    ended_at = factory.LazyFunction(timezone.now)
