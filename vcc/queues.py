"""The Celery queues, named once: the settings route to them, the apps enqueue on them.

A leaf module (it imports nothing of ours), so the settings can import it. Every worker
serves them in this order, and takes the next job from the first queue that has one:
- "operator": what people ask for (re-runs and retries from the page, the admin, the API),
  so an operator never waits behind the backlog;
- "control": the jobs that keep the system moving (syncs, the sweeper, fan-outs);
- "celery": the pipeline's backlog (new deals, HubSpot changes, the sweeper's re-sends).
"""

OPERATOR_QUEUE = "operator"
CONTROL_QUEUE = "control"
BACKLOG_QUEUE = "celery"
SERVED_IN_ORDER = (OPERATOR_QUEUE, CONTROL_QUEUE, BACKLOG_QUEUE)
