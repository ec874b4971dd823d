"""Queue search by index: trigrams for a part of the name, in any case. (A HubSpot id
prefix is served by the text_pattern_ops index Django made beside the unique one.) Built
concurrently: a million deals keep being written meanwhile."""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('deals', '0005_deal_writebacks'),
    ]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm (a trusted extension)
        AddIndexConcurrently(
            model_name='deal',
            index=django.contrib.postgres.indexes.GinIndex(
                fields=['name'], name='deals_name_trgm', opclasses=['gin_trgm_ops']
            ),
        ),
    ]
