from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache

from widget import ratelimit


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


class FakeRedis:
    """SET NX EX and INCR in memory; counts pipeline round trips."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.ttls: dict[str, int] = {}
        self.round_trips = 0

    def pipeline(self, transaction: bool = True) -> FakeRedis.Pipeline:
        assert transaction, "a counter must not expire between its SET and its INCR"
        return FakeRedis.Pipeline(self)

    class Pipeline:
        def __init__(self, redis: FakeRedis) -> None:
            self.redis = redis
            self.commands: list[tuple[str, str, Any]] = []

        def set(self, key: str, value: int, ex: int, nx: bool = False) -> None:
            assert nx, "a later hit must not reset the window"
            self.commands.append(("set", key, (value, ex)))

        def incr(self, key: str) -> None:
            self.commands.append(("incr", key, None))

        def execute(self) -> list[Any]:
            self.redis.round_trips += 1
            results: list[Any] = []
            for command, key, args in self.commands:
                if command == "incr":
                    self.redis.values[key] = self.redis.values.get(key, 0) + 1
                    results.append(self.redis.values[key])
                elif key in self.redis.values:
                    results.append(None)
                else:
                    self.redis.values[key], self.redis.ttls[key] = args
                    results.append(True)
            return results


def test_it_refuses_once_a_limit_is_over() -> None:
    limits = [("visitor", "v1", 2), ("ip", "1.2.3.4", 10)]
    assert [ratelimit.allow_all(limits) for _ in range(3)] == [True, True, False]


def test_any_limit_over_refuses() -> None:
    assert ratelimit.allow_all([("ip", "1.2.3.4", 1)])
    assert not ratelimit.allow_all([("visitor", "v2", 10), ("ip", "1.2.3.4", 1)])


def test_a_zero_limit_is_no_limit_and_costs_nothing() -> None:
    with mock.patch.object(ratelimit, "_redis_client", autospec=True) as client:
        assert all(ratelimit.allow_all([("ip", "1.2.3.4", 0)]) for _ in range(5))
    client.assert_not_called()


def test_on_redis_all_counters_cost_one_round_trip() -> None:
    redis = FakeRedis()
    limits = [("visitor", "v1", 2), ("ip", "1.2.3.4", 10)]
    with mock.patch.object(ratelimit, "_redis_client", return_value=redis):
        allowed = [ratelimit.allow_all(limits) for _ in range(3)]
    assert allowed == [True, True, False]
    assert redis.round_trips == 3
    assert sorted(redis.values.values()) == [3, 3]
    assert set(redis.ttls.values()) == {65}


def test_a_batch_of_hits_gets_one_answer_each_in_one_round_trip() -> None:
    redis = FakeRedis()
    hits = [
        [("visitor", "v1", 1), ("ip", "1.2.3.4", 10)],
        [("visitor", "v1", 1), ("ip", "1.2.3.4", 10)],
        [("visitor", "v2", 1), ("ip", "1.2.3.4", 0)],
    ]
    with mock.patch.object(ratelimit, "_redis_client", return_value=redis):
        assert ratelimit.allow_many(hits) == [True, False, True]
    assert redis.round_trips == 1
