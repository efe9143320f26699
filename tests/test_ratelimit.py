"""RateLimiter on a fake clock (no real sleeping) and the retry policy's choices."""

from __future__ import annotations

import random
import threading
from collections import deque

import pytest

from connector.crm.ratelimit import RateLimiter, retrying
from connector.errors import (
    DailyLimitExceeded,
    FatalSyncError,
    RetriableError,
    SkippableRecordError,
)


class FakeClock:
    """Monotonic clock whose sleep() advances time instantly and records each wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, n: int = 3, per: float = 10.0, **kw: float) -> RateLimiter:
    return RateLimiter(n, per, clock=clock, sleep=clock.sleep, **kw)


def test_requests_within_limit_do_not_wait(clock: FakeClock) -> None:
    limiter = make(clock)
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []
    assert limiter.acquired == 3


def test_request_over_limit_waits_for_oldest_to_leave_window(clock: FakeClock) -> None:
    limiter = make(clock)
    limiter.acquire()
    clock.now += 4
    limiter.acquire()
    limiter.acquire()
    limiter.acquire()  # the first left the window 10 s after it was sent
    assert clock.sleeps == [pytest.approx(6.0)]


def test_rolling_window_never_exceeds_limit(clock: FakeClock) -> None:
    limiter = make(clock, n=5, per=10.0)
    sent: list[float] = []
    for _ in range(40):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.3
    for i, t in enumerate(sent):
        in_window = [s for s in sent[: i + 1] if t - s < 10.0]
        assert len(in_window) <= 5


def test_penalize_blocks_next_acquire(clock: FakeClock) -> None:
    limiter = make(clock)
    limiter.penalize(2.5)
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(2.5)]


def test_retry_after_header_penalizes(clock: FakeClock) -> None:
    limiter = make(clock)
    limiter.note_headers({"Retry-After": "4"})
    limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(4.0)


def test_hubspot_remaining_zero_blocks_until_window_frees(clock: FakeClock) -> None:
    limiter = make(clock, n=100)
    limiter.acquire()
    clock.now += 3
    limiter.note_headers(
        {
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }
    )
    limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(7.0)


def test_malformed_headers_are_ignored(clock: FakeClock) -> None:
    limiter = make(clock)
    limiter.note_headers(
        {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT", "X-HubSpot-RateLimit-Remaining": "x"}
    )
    limiter.acquire()
    assert clock.sleeps == []


def test_salesforce_limit_info_over_budget_share_stops(clock: FakeClock) -> None:
    limiter = make(clock, daily_budget_share=0.5)
    limiter.note_headers({"Sforce-Limit-Info": "api-usage=7400/15000"})
    limiter.acquire()
    assert limiter.daily_usage is not None and limiter.daily_usage.used == 7400
    limiter.note_headers({"Sforce-Limit-Info": "api-usage=7500/15000"})
    with pytest.raises(DailyLimitExceeded) as info:
        limiter.acquire()
    assert info.value.policy == "daily_budget_share"


def test_hubspot_daily_quota_exhausted_stops_without_share(clock: FakeClock) -> None:
    limiter = make(clock)
    limiter.note_headers(
        {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "0"}
    )
    with pytest.raises(DailyLimitExceeded) as info:
        limiter.acquire()
    assert info.value.policy == "DAILY"
    limiter.note_daily_usage(10, 250000)  # a new day lifts the stop
    limiter.acquire()


def test_limiter_is_thread_safe() -> None:
    """Real clock: 8 threads × 25 acquires never admit > 50 requests in any 0.2 s window."""
    limiter = RateLimiter(50, 0.2)
    admitted: list[float] = []

    class RecordingDeque(deque[float]):
        def append(self, x: float) -> None:  # called under the limiter's lock on admission
            admitted.append(x)
            super().append(x)

    limiter._sent = RecordingDeque()

    def work() -> None:
        for _ in range(25):
            limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limiter.acquired == len(admitted) == 200
    assert admitted == sorted(admitted)
    for i in range(len(admitted) - 50):
        assert admitted[i + 50] - admitted[i] >= 0.2


@pytest.mark.parametrize("bad", [(0, 10.0), (5, 0.0)])
def test_invalid_limits_rejected(bad: tuple[int, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(*bad)


# --- retrying -------------------------------------------------------------------------


class Flaky:
    def __init__(self, errors: list[Exception], result: str = "ok") -> None:
        self.errors = errors
        self.calls = 0
        self.result = result

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def test_retries_retriable_then_succeeds(clock: FakeClock) -> None:
    fn = Flaky([RetriableError("503", status=503), RetriableError("reset")])
    assert retrying(fn, attempts=5, max_wait=8, sleep=clock.sleep, rng=random.Random(1)) == "ok"
    assert fn.calls == 3
    assert len(clock.sleeps) == 2
    assert all(0 <= s <= 8 for s in clock.sleeps)


def test_gives_up_after_attempts_and_reraises_last(clock: FakeClock) -> None:
    fn = Flaky([RetriableError(f"e{i}", status=502) for i in range(5)])
    with pytest.raises(RetriableError, match="e2"):
        retrying(fn, attempts=3, max_wait=1, sleep=clock.sleep)
    assert fn.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        FatalSyncError("401"),
        DailyLimitExceeded("DAILY"),
        SkippableRecordError("1", "invalid email"),
        ValueError("bug"),
    ],
)
def test_never_retries_non_retriable(clock: FakeClock, error: Exception) -> None:
    fn = Flaky([error])
    with pytest.raises(type(error)):
        retrying(fn, attempts=5, max_wait=1, sleep=clock.sleep)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_honours_retry_after_over_short_backoff(clock: FakeClock) -> None:
    fn = Flaky([RetriableError("429", status=429, retry_after=9.0)])
    retrying(fn, attempts=3, max_wait=0.1, sleep=clock.sleep)
    assert clock.sleeps == [pytest.approx(9.0)]


def test_backoff_grows_exponentially_with_jitter_and_cap(clock: FakeClock) -> None:
    fn = Flaky([RetriableError("x") for _ in range(9)])
    retrying(fn, attempts=10, max_wait=4.0, sleep=clock.sleep, rng=random.Random(7))
    caps = [min(4.0, 0.5 * 2**i) for i in range(9)]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, caps, strict=True))
    assert len(set(clock.sleeps)) > 1  # jittered, not constant


def test_retry_after_penalizes_shared_limiter(clock: FakeClock) -> None:
    limiter = make(clock)
    fn = Flaky([RetriableError("429", status=429, retry_after=5.0)])
    # The retry's own sleep is a no-op here so only the limiter's wait is observed.
    retrying(fn, attempts=2, max_wait=1, limiter=limiter, sleep=lambda _s: None)
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(5.0)]


# --- 429s: adaptive wait and AIMD allowance -------------------------------------------

THROTTLED = {  # what HubSpot sends with a TEN_SECONDLY_ROLLING 429: no Retry-After
    "X-HubSpot-RateLimit-Max": "100",
    "X-HubSpot-RateLimit-Remaining": "0",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
}


def throttling(clock: FakeClock, n: int = 100) -> RateLimiter:
    return RateLimiter(n, 10.0, clock=clock, sleep=clock.sleep, rng=random.Random(3))


def test_first_429_waits_a_short_jittered_time_not_the_window(clock: FakeClock) -> None:
    waits = []
    for seed in range(20):
        limiter = RateLimiter(100, 10.0, clock=clock, sleep=clock.sleep, rng=random.Random(seed))
        limiter.acquire()
        waits.append(limiter.note_throttle(THROTTLED))
    assert all(0.05 <= w <= 0.1 for w in waits)
    assert len(set(waits)) > 1  # jittered, so clients that collided do not collide again
    clock.sleeps.clear()
    limiter.acquire()  # every caller sharing the limiter holds back for that wait
    assert sum(clock.sleeps) == pytest.approx(waits[-1])


def test_consecutive_429s_double_the_wait_up_to_the_full_window(clock: FakeClock) -> None:
    limiter = throttling(clock)
    limiter.acquire()
    waits = [limiter.note_throttle(THROTTLED) for _ in range(10)]
    for n, wait in enumerate(waits[:7]):
        ceiling = 0.1 * 2**n
        assert ceiling / 2 <= wait <= ceiling
    assert waits[7:] == [10.0, 10.0, 10.0]  # only a sustained refusal costs the window
    limiter.note_success()
    assert limiter.note_throttle(THROTTLED) <= 0.1  # a success ends the run of 429s


def test_429_window_length_comes_from_the_interval_header(clock: FakeClock) -> None:
    limiter = throttling(clock)
    headers = {**THROTTLED, "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}
    waits = [limiter.note_throttle(headers) for _ in range(6)]
    assert waits[-2:] == [1.0, 1.0]


def test_429_retry_after_is_honoured(clock: FakeClock) -> None:
    limiter = throttling(clock)
    assert limiter.note_throttle({**THROTTLED, "Retry-After": "7"}) == 7.0
    limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(7.0)


def test_unpredicted_429_halves_the_allowance_once_per_window(clock: FakeClock) -> None:
    limiter = throttling(clock)
    for _ in range(10):
        limiter.acquire()
    limiter.note_throttle(THROTTLED)  # 10 in a window of 100: the server allows us less
    assert limiter.allowance == 50
    limiter.note_throttle(THROTTLED)  # same burst, same signal
    assert limiter.allowance == 50
    clock.now += 10.0
    limiter.note_throttle(THROTTLED)
    assert limiter.allowance == 25
    assert limiter.throttled == 3


def test_allowance_recovers_additively_on_success(clock: FakeClock) -> None:
    limiter = throttling(clock, n=8)
    limiter.note_throttle(THROTTLED)
    assert limiter.allowance == 4
    limiter.note_success()
    limiter.note_success()
    assert limiter.allowance == 6
    for _ in range(10):
        limiter.note_success()
    assert limiter.allowance == 8  # never above max_requests


def test_lowered_allowance_paces_acquire(clock: FakeClock) -> None:
    limiter = throttling(clock, n=4)
    limiter.acquire()
    limiter.note_throttle(THROTTLED)  # allowance 2; the 429's own short wait applies first
    clock.now += 1.0
    limiter.acquire()
    clock.sleeps.clear()
    limiter.acquire()  # window holds 2 = allowance: wait for the first to leave it
    assert sum(clock.sleeps) == pytest.approx(9.0)


def test_429_at_our_own_full_window_keeps_the_allowance(clock: FakeClock) -> None:
    limiter = throttling(clock, n=3)
    for _ in range(3):
        limiter.acquire()
    limiter.note_throttle(THROTTLED)  # we were at the documented limit: an edge, not a signal
    assert limiter.allowance == 3


def serve_at_real_rate(limiter: RateLimiter, clock: FakeClock, aimd: bool) -> tuple[float, int]:
    """3000 requests to a server that really allows 40 per 10 s (other apps share the
    account) while the limiter assumes 100: (admitted per 10 s, 429s)."""
    server: deque[float] = deque()
    admitted = refused = 0
    for _ in range(3000):
        limiter.acquire()
        while server and clock.now - server[0] >= 10.0:
            server.popleft()
        if len(server) >= 40:
            refused += 1
            wait = limiter.note_throttle(THROTTLED)
            if not aimd:
                limiter._allowance = float(limiter.max_requests)
            clock.sleep(wait)
        else:
            server.append(clock.now)
            admitted += 1
            limiter.note_success()
        clock.now += 0.01
    return admitted / (clock.now - 1000.0) * 10, refused


def test_aimd_converges_on_the_servers_real_rate_with_few_429s() -> None:
    adaptive, fixed = FakeClock(), FakeClock()
    rate, refused = serve_at_real_rate(throttling(adaptive), adaptive, aimd=True)
    fixed_rate, fixed_refused = serve_at_real_rate(throttling(fixed), fixed, aimd=False)
    assert rate >= 0.9 * 40  # keeps the server's real window nearly full …
    assert refused <= 0.05 * 3000  # … with few 429s
    assert refused * 3 < fixed_refused and rate > fixed_rate  # better than backoff alone


def test_a_request_holds_its_place_from_its_answer_not_its_send(clock: FakeClock) -> None:
    limiter = make(clock, n=2)
    first = limiter.acquire()
    clock.now += 0.3  # the answer takes 0.3 s: the server stamped it somewhere in between
    limiter.release(first)
    second = limiter.acquire()
    clock.now += 0.3
    limiter.release(second)
    clock.sleeps.clear()
    limiter.acquire()  # the first place frees 10 s after its answer, not after its send
    assert clock.sleeps == [pytest.approx(9.7)]
    assert limiter.acquired == 3


def window_edge_429s(release: bool) -> int:
    """A sequential client at its limit (100 per 10 s) against a server that counts each
    request when it arrives, over a network whose one-way delay jitters 0–20 ms: 429s."""
    clock, rng = FakeClock(), random.Random(5)
    limiter = RateLimiter(100, 10.0, clock=clock, sleep=clock.sleep)
    server: deque[float] = deque()
    refused = 0
    for _ in range(2000):
        stamp = limiter.acquire()
        clock.now += rng.uniform(0.0, 0.02)  # on its way
        while server and server[0] <= clock.now - 10.0:
            server.popleft()
        if len(server) >= 100:
            refused += 1
        else:
            server.append(clock.now)
        clock.now += rng.uniform(0.0, 0.02)  # the answer on its way back
        if release:
            limiter.release(stamp)
    return refused


def test_counting_places_from_the_answer_avoids_429s_at_window_edges() -> None:
    assert window_edge_429s(release=False) > 10  # stamped at send: edges collide (18)
    assert window_edge_429s(release=True) == 0


def test_release_of_a_place_that_left_the_window_changes_nothing(clock: FakeClock) -> None:
    limiter = make(clock, n=1)
    stamp = limiter.acquire()
    clock.now += 11.0  # answered after more than a window
    limiter.acquire()  # the old place has left: no wait
    limiter.release(stamp)
    assert clock.sleeps == [] and list(limiter._sent) == [pytest.approx(1011.0)]


def test_429s_do_not_use_up_attempts(clock: FakeClock) -> None:
    fn = Flaky([RetriableError("429", status=429, retry_after=0.1) for _ in range(12)])
    assert retrying(fn, attempts=3, max_wait=1, sleep=clock.sleep) == "ok"
    assert fn.calls == 13


def test_429s_stop_at_the_wait_budget(clock: FakeClock) -> None:
    fn = Flaky([RetriableError(f"429 #{i}", status=429, retry_after=2.0) for i in range(50)])
    with pytest.raises(RetriableError, match="429 #5"):
        retrying(fn, attempts=3, max_wait=1, wait_budget=10.0, sleep=clock.sleep)
    assert sum(clock.sleeps) == pytest.approx(10.0)


def test_5xx_backoff_is_not_inflated_by_earlier_429s(clock: FakeClock) -> None:
    errors: list[Exception] = [RetriableError("429", status=429, retry_after=0.0)] * 6
    fn = Flaky([*errors, RetriableError("502", status=502)])
    retrying(fn, attempts=3, max_wait=60, sleep=clock.sleep, rng=random.Random(1))
    assert clock.sleeps[-1] <= 0.5  # first failure: base 0.5, not 0.5 × 2^6


def test_hubspot_429_interval_header_is_not_a_flat_wait() -> None:
    """classify() used to turn the 10 s interval header into every 429's wait."""
    from connector.crm.hubspot.client import classify

    class Api429(Exception):
        status = 429
        reason = "Too Many Requests"
        body = '{"status":"error","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}'
        headers = THROTTLED

    err = classify(Api429(), "search")
    assert isinstance(err, RetriableError) and err.status == 429
    assert err.retry_after is None
    Api429.headers = {**THROTTLED, "Retry-After": "3"}
    assert getattr(classify(Api429(), "search"), "retry_after", None) == 3.0
