"""A channel-layer listener in its own thread and event loop (for realtime scenarios)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any


class Listener:
    """Joins `groups` on a fresh RedisPubSubChannelLayer; every message received lands
    in `messages` as (perf_counter at receipt, message)."""

    def __init__(self, redis_url: str, groups: list[str]) -> None:
        self.redis_url = redis_url
        self.groups = groups
        self.messages: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.layer: Any = None
        self.channel = ""
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="layer-listener", daemon=True)

    def start(self, timeout: float = 10) -> Listener:
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError("the channel-layer listener did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        self.layer = RedisPubSubChannelLayer(hosts=[self.redis_url])
        self.channel = await self.layer.new_channel()
        for group in self.groups:
            await self.layer.group_add(group, self.channel)
        await asyncio.sleep(0.2)  # let the SUBSCRIBEs land before anyone publishes
        self.ready.set()
        while not self._stop:
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), 0.5)
            except TimeoutError:
                continue
            self.messages.put((time.perf_counter(), message))
        for group in self.groups:
            await self.layer.group_discard(group, self.channel)
        await self.layer.flush()

    def run(self, coro: Any, timeout: float = 120) -> Any:
        """Run a coroutine on the listener's loop (e.g. a raw round-trip baseline)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
