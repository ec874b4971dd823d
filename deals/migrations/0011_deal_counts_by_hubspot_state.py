"""The deal counts by status count active deals only; deals archived or merged in HubSpot
count under that state instead (`archived`, `merged`), at their current stage.

The triggers of 0007 are replaced: each counts a deal under `counted_as` (its status while
active, else its HubSpot state), and the row trigger also fires when the HubSpot state
changes, so an archive, a restore or a merge moves the deal's count in the same
transaction, whoever makes it. The counters are rebuilt from the deals under the same lock
as in 0007 (no deal moves between the count and the new triggers) and the fold's advisory
lock (no fold is half-way through the rows being rebuilt).
"""

from django.db import migrations, models

# The same expression in every trigger, and in the rebuild below.
COUNTED_AS = "CASE WHEN {t}hubspot_state = 'active' THEN {t}status ELSE {t}hubspot_state END"


def _counted(table: str = "") -> str:
    return COUNTED_AS.format(t=f"{table}." if table else "")


FORWARD = f"""
LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE;  -- no deal moves meanwhile
SELECT pg_advisory_xact_lock({0x5643_4302}, 0);  -- services/counts.py's _FOLD_LOCK

CREATE OR REPLACE FUNCTION deal_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was text := {_counted("OLD")};
    now_ text := {_counted("NEW")};
BEGIN
    -- An archived deal whose pipeline stops (running to pending) still counts as archived.
    IF was = now_ AND OLD.current_stage = NEW.current_stage THEN
        RETURN NULL;
    END IF;
    INSERT INTO deal_count_changes (status, stage, deals)
    VALUES (was, OLD.current_stage, -1), (now_, NEW.current_stage, 1);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deal_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT {_counted()}, current_stage, count(*) FROM inserted GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deal_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT {_counted()}, current_stage, -count(*) FROM deleted GROUP BY 1, 2;
    RETURN NULL;
END $$;

DROP TRIGGER deal_counts_moved ON deals;
CREATE TRIGGER deal_counts_moved AFTER UPDATE OF status, current_stage, hubspot_state ON deals
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.current_stage IS DISTINCT FROM NEW.current_stage
        OR OLD.hubspot_state IS DISTINCT FROM NEW.hubspot_state
    )
    EXECUTE FUNCTION deal_counts_moved();

DELETE FROM deal_count_changes;
DELETE FROM deal_counts;
INSERT INTO deal_counts (status, stage, deals)
SELECT {_counted()}, current_stage, count(*) FROM deals GROUP BY 1, 2;
"""

# 0007's triggers, and its counters (by status, whatever the HubSpot state).
BACKWARD = f"""
LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE;
SELECT pg_advisory_xact_lock({0x5643_4302}, 0);

CREATE OR REPLACE FUNCTION deal_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    VALUES (OLD.status, OLD.current_stage, -1), (NEW.status, NEW.current_stage, 1);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deal_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT status, current_stage, count(*) FROM inserted GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deal_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deal_count_changes (status, stage, deals)
    SELECT status, current_stage, -count(*) FROM deleted GROUP BY 1, 2;
    RETURN NULL;
END $$;

DROP TRIGGER deal_counts_moved ON deals;
CREATE TRIGGER deal_counts_moved AFTER UPDATE OF status, current_stage ON deals
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.current_stage IS DISTINCT FROM NEW.current_stage
    )
    EXECUTE FUNCTION deal_counts_moved();

DELETE FROM deal_count_changes;
DELETE FROM deal_counts;
INSERT INTO deal_counts (status, stage, deals)
SELECT status, current_stage, count(*) FROM deals GROUP BY 1, 2;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('deals', '0010_pass_trigger_merge'),
    ]

    operations = [
        migrations.AlterField(
            model_name='dealcount',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed'), ('archived', 'Archived'), ('merged', 'Merged')], max_length=16),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
