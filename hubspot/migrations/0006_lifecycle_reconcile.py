# Merged import items and webhook outcomes, and the reconcile's runs (kind and counters).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hubspot', '0005_webhook_outcome_archived'),
    ]

    operations = [
        migrations.AddField(
            model_name='dealimportitem',
            name='merged_into',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='outcome',
            field=models.CharField(blank=True, choices=[('imported', 'Imported'), ('already_present', 'Already Present'), ('invalid', 'Invalid'), ('not_found', 'Not Found'), ('archived', 'Archived'), ('merged', 'Merged')], default='', max_length=16),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='kind',
            field=models.CharField(choices=[('changes', 'Changes'), ('checked_in', 'Checked In'), ('reconcile', 'Reconcile')], default='checked_in', max_length=16),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='archived',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='restored',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='merged',
            field=models.PositiveIntegerField(default=0),
        ),
    ]
