"""A local stand-in for the part of HubSpot's CRM API the deal sync uses.

Run it:  python manage.py hubspot_simulator --port 8765 --deals 100000 [--seed 7] [--days 30]
It prints `hubspot simulator listening on http://127.0.0.1:PORT (N deals)` when ready.
From Python (tests, benchmarks): `hubspot.simulator.process.start_simulator(...)`.

Endpoints (bearer token, `--token`, default "sim-token"):
    POST /crm/v3/objects/deals/search   filters EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN
                                        HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN
                                        NOT_CONTAINS_TOKEN; 5 groups / 6 filters / 18 in all;
                                        one sort; limit <= 200; 400 past 10,000 results;
                                        429 past --search-rps (HubSpot's SECONDLY body)
    POST /crm/v3/objects/deals/batch/read, /batch/update (<= 100 inputs; 207 + errors[])
    GET  /crm/v3/objects/deals/{id}?properties=...
Control endpoints (loopback, no token) under /_simulator/: stats, config, deals.

Modules: data (deal generation), search (request validation, matching), store (deals and
the lagging search index), config (run-time knobs), app (routes, auth, limits, faults),
server (HTTP), process (subprocess helper).
"""
