"""`api`, `tenants …` and `keys …` commands (a Typer app the `minuta` CLI mounts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from entrypoints.settings import load
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.db.migrate import upgrade_database_async
from services.api.db.models import Tenant
from services.api.tenants import create_key, create_tenant, find_tenant, list_keys, revoke_key

app = typer.Typer(help="The REST API, its tenants and their API keys.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (each sees only its own meetings).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=1)


def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction, on a migrated database."""
    settings = load().api

    async def run() -> T:
        url = settings.resolved_database_url
        if settings.migrate_on_startup:
            await upgrade_database_async(url)
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command("api")
def run_api(
    host: Annotated[str | None, typer.Option(help="Bind address [MINUTA_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [MINUTA_PORT]")] = None,
) -> None:
    """Run the REST API (with its outbox relay and job-event consumer)."""
    import uvicorn

    from core.telemetry.logging import configure_logging
    from services.api.app import create_app

    root = load()
    # MINUTA_LOG_FORMAT / MINUTA_LOG_LEVEL; uvicorn logs through it too (log_config=None).
    configure_logging("api", settings=root.telemetry)

    # The options also decide the default public URL of the local storage's download links.
    settings = root.api.model_copy(
        update={"host": host or root.api.host, "port": port or root.api.port}
    )
    uvicorn.run(
        create_app(
            settings,
            controller_settings=root.bots,
            broker_settings=root.broker,
            telemetry=root.telemetry,
        ),
        host=settings.host,
        port=settings.port,
        log_config=None,
        # The app's own shutdown stops its background tasks; uvicorn need not wait long.
        timeout_graceful_shutdown=10,
    )


@tenants_app.command("create")
def tenants_create(name: Annotated[str, typer.Argument(help="The tenant's name")]) -> None:
    """Create a tenant; prints its first API key on stdout (shown only this once)."""

    async def work(session: AsyncSession) -> tuple[str, str]:
        tenant, issued = await create_tenant(session, name)
        return str(tenant.id), issued.secret

    tenant_id, secret = _in_session(work)
    typer.echo(f"Tenant {name!r} created (id {tenant_id}). Its API key, shown once:", err=True)
    typer.echo(secret)


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants: id, name, created."""

    async def work(session: AsyncSession) -> list[str]:
        tenants = await session.scalars(select(Tenant).order_by(Tenant.created_at))
        return [f"{t.id}\t{t.name}\t{t.created_at.isoformat(timespec='seconds')}" for t in tenants]

    for line in _in_session(work):
        typer.echo(line)


@tenants_app.command("retention")
def tenants_retention(
    tenant: Annotated[str, typer.Argument(help="Tenant name or id")],
    days: Annotated[
        int | None, typer.Option(min=1, max=36500, help="Delete after this many days")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--everything", help="Delete whole meetings, not only recordings")
    ] = False,
    off: Annotated[bool, typer.Option("--off", help="Keep meetings forever")] = False,
) -> None:
    """Show or set a tenant's retention policy (applied by the API's hourly sweep)."""
    from services.api.db.models import RetentionScope
    from services.api.retention import policy_of, set_policy
    from services.api.schemas import RetentionPolicy

    if off and (days is not None or everything):
        raise _fail("--off cannot be combined with --days or --everything")
    if everything and days is None:
        raise _fail("--everything needs --days")
    scope = RetentionScope.everything if everything else RetentionScope.recording
    wanted = RetentionPolicy(days=days, scope=scope) if days is not None or off else None

    async def work(session: AsyncSession) -> RetentionPolicy | None:
        found = await find_tenant(session, tenant)
        if found is None:
            return None
        if wanted is not None:
            await set_policy(session, found.id, wanted)
            return wanted
        return policy_of(found)

    policy = _in_session(work)
    if policy is None:
        raise _fail(f"no tenant named (or with id) {tenant!r}, or the name is ambiguous")
    if policy.days is None:
        typer.echo("Retention: off (meetings are kept forever).")
    elif policy.scope is RetentionScope.everything:
        typer.echo(f"Retention: whole meetings are deleted {policy.days} days after upload.")
    else:
        typer.echo(
            f"Retention: recordings are deleted {policy.days} days after upload "
            "(transcripts and minutes are kept)."
        )


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Argument(help="Tenant name or id")],
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
) -> None:
    """Issue another key for a tenant (e.g. to rotate: create, switch clients, revoke the old)."""

    async def work(session: AsyncSession) -> str | None:
        found = await find_tenant(session, tenant)
        if found is None:
            return None
        return (await create_key(session, found.id, name=name)).secret

    secret = _in_session(work)
    if secret is None:
        raise _fail(f"no tenant named (or with id) {tenant!r}, or the name is ambiguous")
    typer.echo("API key, shown once:", err=True)
    typer.echo(secret)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Argument(help="Tenant name or id (all if omitted)")] = None,
) -> None:
    """List keys: id, visible prefix, tenant, name, created, revoked."""

    async def work(session: AsyncSession) -> list[str] | None:
        tenant_id = None
        if tenant is not None:
            found = await find_tenant(session, tenant)
            if found is None:
                return None
            tenant_id = found.id
        return [
            "\t".join(
                (
                    str(k.id),
                    f"{k.prefix}…",
                    str(k.tenant_id),
                    k.name or "-",
                    k.created_at.isoformat(timespec="seconds"),
                    f"revoked {k.revoked_at.isoformat(timespec='seconds')}"
                    if k.revoked_at
                    else "active",
                )
            )
            for k in await list_keys(session, tenant_id)
        ]

    lines = _in_session(work)
    if lines is None:
        raise _fail(f"no tenant named (or with id) {tenant!r}")
    for line in lines:
        typer.echo(line)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id, or its visible prefix (mk_…)")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""

    async def work(session: AsyncSession) -> str | None:
        revoked = await revoke_key(session, key.rstrip("…"))
        return None if revoked is None else str(revoked.id)

    revoked_id = _in_session(work)
    if revoked_id is None:
        raise _fail(f"no key with id or prefix {key!r} (or the prefix is ambiguous)")
    typer.echo(f"Revoked key {revoked_id}.")
