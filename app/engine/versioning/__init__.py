"""Worker Versioning (Temporal's Worker Deployments, issue #21) and the replay gate.

Tables: app/db/tables/versioning.py. A version exists once a worker of it polls; each
deployment routes new runs, and the workflow tasks of auto-upgrade runs, to its current
version or (by a hash of the workflow id) its ramping one; pinned runs stay on their version.
"""
