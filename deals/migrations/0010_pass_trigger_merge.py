# A pass started by a HubSpot merge (the survivor's pipeline).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deals', '0009_deal_hubspot_state'),
    ]

    operations = [
        migrations.AlterField(
            model_name='pipelinepass',
            name='trigger',
            field=models.CharField(choices=[('new', 'New from HubSpot'), ('hubspot_change', 'HubSpot change'), ('rerun', 'Operator re-run'), ('retry', 'Operator retry'), ('bulk_rerun', 'Bulk re-run'), ('bulk_retry', 'Bulk retry'), ('sweeper', 'Sweeper'), ('merge', 'HubSpot merge')], max_length=16),
        ),
    ]
