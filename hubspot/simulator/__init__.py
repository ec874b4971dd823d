"""A local stand-in for the part of HubSpot's CRM API the deal sync uses.

Run it:
    python manage.py hubspot_simulator --port 8765 --deals 100000 [--seed 7] [--days 30]
It prints exactly one line, `hubspot simulator listening on http://127.0.0.1:PORT (N deals)`,
when ready (`--port 0` picks a free port) and stops cleanly on SIGTERM/SIGINT.
`python manage.py hubspot_simulator --help` lists every flag.

From Python (tests, benchmarks, scripts), as a subprocess:
    from hubspot.simulator.process import start_simulator
    with start_simulator(deals=25_000, seed=1, extra_args=["--same-second", "12000"]) as sim:
        sim.base_url, sim.token
        sim.add_deals(count=3, checked_in_at=datetime(...))   # -> ids
        sim.configure(error_500_share=0.2, index_lag_seconds=5)
        sim.stats()   # requests by endpoint, responses by status, rate_limited, faults, ...
        sim.deal(id)  # a deal's properties and the batch updates written to it
        sim.delete_deal(id), sim.restore_deal(id), sim.merge_deals(primary=a, merged=[b])
In pytest: the `start_hubspot_simulator` and `hubspot_simulator` fixtures (tests/conftest.py).

CRM endpoints (bearer token `--token`, default "sim-token"; 401 as HubSpot otherwise):
    POST /crm/objects/2026-09/deals/search (or /0-3/search)
        filters EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY
        CONTAINS_TOKEN NOT_CONTAINS_TOKEN; at most 5 groups, 6 filters a group, 18 in all;
        one sort (default hs_object_id ascending); limit 1..200 (default 10); `after` offset;
        400 VALIDATION_ERROR past 10,000 results (after + limit > 10,000);
        429 with HubSpot's SECONDLY body past --search-rps (GCRA, burst --search-burst).
        Every other call: 429 (TEN_SECONDLY_ROLLING) past --general-limit-10s, when set.
    POST /crm/objects/2026-09/deals/batch/read     <= 100 inputs; 207 + errors[] for missing ids
    POST /crm/objects/2026-09/deals/batch/update   <= 100 inputs; 207 + errors[]; 400 on repeats
    GET  /crm/objects/2026-09/deals/{id}?properties=a,b   404 OBJECT_NOT_FOUND when missing
    GET  /crm/objects/2026-09/deals?archived=true&limit=&after=   the list (archived deals)
    Deleted deals: out of search, reads only with ?archived=true; a merged-away id reads as
    the new deal it went into, with that deal's id (lifecycle.py).

Control endpoints (no token, loopback clients only):
    GET /_simulator/stats, POST /_simulator/stats/reset
    GET /_simulator/config, POST /_simulator/config {"knob": value}   (knobs: config.py)
    POST /_simulator/deals {"count": n, "checked_in_at": ISO|epoch-ms, "properties": {...}}
    GET /_simulator/deals/{id} (properties and batch updates), GET /_simulator/webhooks
    POST /_simulator/deals/{id}/delete, /_simulator/deals/{id}/restore, POST /_simulator/merge
    GET /_simulator/updates (every deal's batch updates; `answered`: false when a fault hid
    the answer, so the client was right to send it again)

Webhooks (`--webhook-url URL`, signed with `--webhook-secret` or HUBSPOT_CLIENT_SECRET): when
a deal checks in (added at run time or trickled), a deal.creation and a deal.propertyChange
of the checked-in property, HubSpot's v3 signature and JSON array format (webhooks.py); a
deal.propertyChange too when a batch update changes the checked-in property.

Data: deterministic for a seed; properties dealname, amount (a share missing), dealstage,
pipeline, createdate, hs_lastmodifieddate, hs_object_id and the checked-in property
(settings.HUBSPOT_CHECKED_IN_PROPERTY, or --checked-in-property), ISO unless the epoch-ms
share says otherwise. Search sees additions and changes after `index_lag_seconds`; reads at
once. Any property can be written by batch update (HubSpot would refuse unknown ones).

Modules: data (generation), search (request validation, matching), store (deals and the
lagging search index), config (run-time knobs), app (routing: a request to its answer),
protocol (the request and answer types), crm (the CRM endpoints), guards (token, search
rate limits), faults (injected failures), arrivals (deals added at run time, the trickle),
webhooks (signed webhooks to the project), lifecycle (deletion, restore, merge), control
(the control endpoints), server (HTTP), process (the subprocess helper).
The spec it follows: ../shared/hubspot-spec/ (deals.json, NOTES.md).
"""
