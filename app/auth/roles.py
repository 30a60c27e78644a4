"""Roles and what each may do. One table, read by the one authorization dependency."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    WORKER = "worker"
    READER = "reader"


class Permission(StrEnum):
    """What a route needs; shown in OpenAPI as the security scope of the operation."""

    MANAGE = "manage"  # namespaces and API keys of the tenant
    OPERATE = "operate"  # start/signal/cancel/terminate workflows; definitions, webhooks, ...
    WORK = "work"  # poll and complete workflow and activity tasks
    READ = "read"  # describe, list, history, results
    VIEW = "view"  # who am I, which namespaces may I use


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Operators also run workers, so one key can drive a whole development setup.
    Role.OPERATOR: frozenset(
        {Permission.OPERATE, Permission.WORK, Permission.READ, Permission.VIEW}
    ),
    Role.WORKER: frozenset({Permission.WORK, Permission.VIEW}),
    Role.READER: frozenset({Permission.READ, Permission.VIEW}),
}


def roles_with(permission: Permission) -> list[Role]:
    return [role for role, granted in GRANTS.items() if permission in granted]
