"""The product's settings, plus one trivial page for the benchmarks' baseline.

`bench/run.py` starts uvicorn with these: everything is helpdesk.settings (same
middleware, sessions, database pool, cache), only the URLconf adds BARE_PAGE_PATH,
a view that returns a fixed HttpResponse. Its latency is what the stack itself
costs (uvicorn, ASGI-to-sync hop, middleware), measured in the same run as the
real pages so noise on a shared machine shows in both.
"""

from __future__ import annotations

from helpdesk.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
