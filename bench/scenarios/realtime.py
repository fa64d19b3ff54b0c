"""Realtime: publish -> receive through the Redis channel layer.

ours: conversations.realtime.publish_now (what every action's on-commit hook calls,
sync code through async_to_sync) to a group a listening channel joined, until the
listener has it. baseline: a raw channel-layer group_send -> receive on one
persistent event loop and connection. Sequential, so latencies are not queueing.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from bench.lib import Context, Latency, Result
from bench.scenarios._layer import Listener

PRIORITY = 30
ROUNDS = 300


def run(ctx: Context) -> list[Result]:
    from conversations import realtime

    group = "bench.realtime"
    listener = Listener(ctx.redis_url, [group]).start()
    try:
        ours = Latency(samples_ms=[])
        start = time.perf_counter()
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            realtime.publish_now(group, {"type": "bench.ping", "i": i})
            try:
                received_at, message = listener.messages.get(timeout=5)
            except queue.Empty:
                ours.errors += 1
                continue
            if message.get("i") != i:
                ours.errors += 1
                continue
            ours.samples_ms.append((received_at - t0) * 1000)
        ours.elapsed_s = time.perf_counter() - start
        base = listener.run(_raw_round_trips(listener, ROUNDS))
    finally:
        listener.stop()
    notes = f"{ours.count} round trips, {ours.errors} lost; sequential"
    return [
        Result(
            "realtime",
            "publish_now -> receive p50",
            ours.p50,
            "ms",
            baseline=base.p50,
            baseline_label="raw layer group_send->receive p50",
            notes=notes,
        ),
        Result(
            "realtime",
            "publish_now -> receive p99",
            ours.p99,
            "ms",
            baseline=base.p99,
            baseline_label="raw layer group_send->receive p99",
            notes=notes,
        ),
    ]


async def _raw_round_trips(listener: Listener, rounds: int) -> Latency:
    layer: Any = listener.layer
    channel = await layer.new_channel()
    await layer.group_add("bench.raw", channel)
    result = Latency(samples_ms=[])
    start = time.perf_counter()
    for i in range(rounds):
        t0 = time.perf_counter()
        await layer.group_send("bench.raw", {"type": "bench.ping", "i": i})
        await layer.receive(channel)
        result.samples_ms.append((time.perf_counter() - t0) * 1000)
    result.elapsed_s = time.perf_counter() - start
    await layer.group_discard("bench.raw", channel)
    return result
