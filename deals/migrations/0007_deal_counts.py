"""Deal counts by status and stage in constant time, kept by triggers on `deals`.

Every change of a deal's status or current stage, whoever makes it (the pipeline's step
writes, services, the HubSpot upsert, bulk updates, a psql session), appends its +1 / -1
to `deal_count_changes` in the same transaction: the counts are exact when it commits and
the change vanishes with it when it rolls back. Appending takes no lock that another
writer waits for (no counter row is updated in place), so concurrent workers and bulk
updates never queue or deadlock on the counts. `deal_counts` holds the changes folded in
so far (services.deal_counts_fold); a read sums both.

- a row UPDATE that changes status or current_stage: -1 where it was, +1 where it is; the
  WHEN clause keeps every other update (timestamps, HubSpot fields) free of it;
- INSERT and DELETE: one row per status and stage per statement, from the transition
  table (a sync page of 200 new deals, or a bulk load of a million, costs one statement);
- TRUNCATE: no deals, no counts.

`deal_count_changes` has no key and no index on purpose: it is appended to and folded
whole, and an index would be one more write per change.
"""

from django.db import migrations, models

FORWARD = """
CREATE TABLE deal_count_changes (
    status varchar(16) NOT NULL,
    stage varchar(16) NOT NULL,
    deals bigint NOT NULL
);

LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE;  -- no deal moves between the count and the triggers

CREATE FUNCTION deal_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    VALUES (OLD.status, OLD.current_stage, -1), (NEW.status, NEW.current_stage, 1);
    RETURN NULL;
END $$;

CREATE FUNCTION deal_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT status, current_stage, count(*) FROM inserted GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION deal_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT status, current_stage, -count(*) FROM deleted GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION deal_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deal_count_changes;
    DELETE FROM deal_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER deal_counts_moved AFTER UPDATE OF status, current_stage ON deals
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.current_stage IS DISTINCT FROM NEW.current_stage
    )
    EXECUTE FUNCTION deal_counts_moved();
CREATE TRIGGER deal_counts_inserted AFTER INSERT ON deals
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION deal_counts_inserted();
CREATE TRIGGER deal_counts_deleted AFTER DELETE ON deals
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION deal_counts_deleted();
CREATE TRIGGER deal_counts_truncated AFTER TRUNCATE ON deals
    FOR EACH STATEMENT EXECUTE FUNCTION deal_counts_truncated();

INSERT INTO deal_counts (status, stage, deals)
SELECT status, current_stage, count(*) FROM deals GROUP BY 1, 2;
"""

BACKWARD = """
DROP TRIGGER deal_counts_moved ON deals;
DROP TRIGGER deal_counts_inserted ON deals;
DROP TRIGGER deal_counts_deleted ON deals;
DROP TRIGGER deal_counts_truncated ON deals;
DROP FUNCTION deal_counts_moved();
DROP FUNCTION deal_counts_inserted();
DROP FUNCTION deal_counts_deleted();
DROP FUNCTION deal_counts_truncated();
DROP TABLE deal_count_changes;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('deals', '0006_queue_search_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='DealCount',
            fields=[
                ('pk', models.CompositePrimaryKey('status', 'stage', blank=True, editable=False, primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], max_length=16)),
                ('stage', models.CharField(choices=[('intake', 'Intake'), ('segmentation', 'Segmentation'), ('categorization', 'Categorization'), ('appraisal', 'Appraisal'), ('review', 'Review'), ('done', 'Done')], max_length=16)),
                ('deals', models.BigIntegerField()),
            ],
            options={
                'db_table': 'deal_counts',
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
