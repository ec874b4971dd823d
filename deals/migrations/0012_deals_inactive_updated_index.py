"""The queue of deals archived or merged in HubSpot (few among many), newest updated first:
a partial index, so asking for them does not walk the whole queue. Built concurrently: a
million deals keep being written meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('deals', '0011_deal_counts_by_hubspot_state'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='deal',
            index=models.Index(
                condition=models.Q(('hubspot_state', 'active'), _negated=True),
                fields=['-updated_at', '-id'],
                name='deals_inactive_updated_id',
            ),
        ),
    ]
