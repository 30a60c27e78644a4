"""Matching: how tasks meet pollers.

- `lines`: each queue's line of waiting polls, offered one task each (Temporal's sync match).
- `polls`: a long poll's life: join the line, look at the backlog, claim or wait.
- `dispatch`: the single-winner claim and what a claimed task carries.
- `pollers`: who polled which queue lately.
- `wakeups`: in-process events and PostgreSQL LISTEN/NOTIFY that say "look again".
- `queue_order`, `queue_rates`, `queue_config`, `queue_backlog`: flow control inside a queue
  (priority and fairness order, rate limits, their configuration, backlog counts).
"""
