"""The durable-execution engine: commands become events, tasks and timers, one transaction each.

Nothing here knows HTTP. Callers (routers, the definition interpreter, background loops) call
`Engine` methods; every state transition commits in one database transaction and only then
wakes pollers and watchers.
"""
