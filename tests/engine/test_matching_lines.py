"""The matcher's lines (app/engine/matching/lines.py) on their own: who gets an offer, in what
order, and where offers go that no waiter was free to take. The HTTP-level behaviour is in
tests/engine/test_matching.py; these cases need waiters held in exact states."""

from __future__ import annotations

import contextlib

from app.engine.matching.lines import DRAIN, TASK, Matcher

KEY = "q|ns|activity|queue"


async def test_offers_go_oldest_first_one_per_waiter():
    matcher = Matcher()
    async with contextlib.AsyncExitStack() as stack:
        waiters = [await stack.enter_async_context(matcher.waiting(KEY)) for _ in range(3)]
        assert matcher.offer(KEY, 2) == 2
        assert [w.offered for w in waiters] == [TASK, TASK, None]
        assert matcher.offer(KEY, 1, DRAIN) == 1
        assert waiters[2].offered == DRAIN


async def test_offers_no_waiter_could_take_are_owed_to_the_next_to_join():
    matcher = Matcher()
    async with matcher.waiting(KEY) as busy:
        assert matcher.offer(KEY, 3) == 1  # one waiter free: two tasks owed
        assert busy.take_offer() == TASK  # it claims (its line is not empty meanwhile)
        async with matcher.waiting(KEY) as second, matcher.waiting(KEY) as third:
            assert (second.offered, third.offered) == (TASK, TASK)
            async with matcher.waiting(KEY) as fourth:
                assert fourth.offered is None  # nothing more owed


async def test_leaving_with_an_offer_passes_it_on_or_owes_it():
    matcher = Matcher()
    async with matcher.waiting(KEY) as stays:
        async with matcher.waiting(KEY) as leaves:
            matcher.offer(KEY, 2)
            assert (stays.offered, leaves.offered) == (TASK, TASK)
            stays.take_offer()  # claiming its task
        # `leaves` hung up before claiming: its offer went to the only waiter left.
        assert stays.offered == TASK
        # `stays` keeps its offer (it is claiming); a DRAIN offer goes to the newcomer, which
        # leaves before claiming, with nobody free to take it over: it is owed.
        async with matcher.waiting(KEY) as leaves_too:
            matcher.offer(KEY, 1, DRAIN)
            assert leaves_too.offered == DRAIN
        async with matcher.waiting(KEY) as joins:
            assert joins.offered == DRAIN  # owed by the one that left


async def test_a_line_counts_its_waiters_and_goes_when_empty():
    matcher = Matcher()
    async with matcher.waiting(KEY), matcher.waiting("q|ns|workflow|queue"):
        assert matcher.waiting_counts() == {"activity": 1, "workflow": 1}
        assert matcher.can_take(KEY, 1) and not matcher.can_take(KEY, 2)
    assert matcher.waiting_counts() == {} and not matcher.has_waiters(KEY)
    assert matcher.offer(KEY, 1) == 0  # no line: the task waits in the backlog
    async with matcher.waiting(KEY) as arriving:
        assert arriving.offered is None and arriving.is_oldest  # it looks at the backlog
