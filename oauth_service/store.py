"""Persistence of link sessions and flows, through SQLAlchemy Core on an async driver.

The same statements run on SQLite (the default, one instance) and PostgreSQL (several
instances). Every check-and-change that two requests could race on is one conditional
UPDATE, so the database, not the process, decides who wins.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()

link_sessions = sa.Table(
    "link_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("providers", sa.Text, nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("success_url", sa.Text, nullable=False),
    sa.Column("failure_url", sa.Text, nullable=False),
    sa.Column("app_state", sa.Text),
    sa.Column("login_hint", sa.String(320)),
    sa.Column("reconnect_account", sa.String(128)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(16)),
    sa.Column("account_id", sa.String(128)),
    sa.Column("email", sa.String(320)),
    sa.Column("error", sa.String(64)),
    sa.Column("error_description", sa.Text),
    sa.Column("browser_hash", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

flows = sa.Table(
    "flows",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "link_session_id",
        sa.String(64),
        sa.ForeignKey("link_sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("code_verifier", sa.String(128), nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("browser_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("consumed_at", sa.Float),
)

# Statuses of a link session, in the order a successful one passes through them.
PENDING, AUTHORIZING, LINKING, LINKED, FAILED, EXPIRED = (
    "pending",
    "authorizing",
    "linking",
    "linked",
    "failed",
    "expired",
)
OPEN_STATUSES = (PENDING, AUTHORIZING, FAILED)


@dataclass
class LinkSession:
    id: str
    name: str
    providers: list[str]
    features: list[str]
    success_url: str
    failure_url: str
    created_at: float
    expires_at: float
    app_state: str | None = None
    login_hint: str | None = None
    reconnect_account: str | None = None
    status: str = PENDING
    provider: str | None = None
    account_id: str | None = None
    email: str | None = None
    error: str | None = None
    error_description: str | None = None
    browser_hash: str | None = None
    updated_at: float = field(default_factory=time.time)

    def current_status(self, now: float | None = None) -> str:
        """The status as the app should see it: an open session past its expiry is expired."""
        if self.status in OPEN_STATUSES and (now or time.time()) >= self.expires_at:
            return EXPIRED
        return self.status

    def accepts_new_flow(self, now: float | None = None) -> bool:
        return self.current_status(now) in OPEN_STATUSES


@dataclass
class Flow:
    id: str
    link_session_id: str
    provider: str
    code_verifier: str
    nonce: str
    browser_hash: str
    created_at: float
    expires_at: float
    consumed_at: float | None = None


_JSON_COLUMNS = ("providers", "features")


def _session_row(session: LinkSession) -> dict[str, Any]:
    row = {f.name: getattr(session, f.name) for f in fields(session)}
    for col in _JSON_COLUMNS:
        row[col] = json.dumps(row[col])
    return row


def _session_from_row(row: sa.Row) -> LinkSession:
    data = dict(row._mapping)
    for col in _JSON_COLUMNS:
        data[col] = json.loads(data[col])
    return LinkSession(**data)


def async_database_url(url: str) -> str:
    """Map the documented `sqlite:///` and `postgresql://` URLs onto their async drivers."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(database_url: str) -> AsyncEngine:
    url = async_database_url(database_url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Store:
    """All reads and writes of link sessions and flows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str) -> Store:
        return cls(create_engine(database_url))

    async def migrate(self) -> None:
        """Create missing tables; on PostgreSQL under a lock, so instances may start together."""
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7210418)"))
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    # Link sessions

    async def create_link_session(self, session: LinkSession) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(link_sessions.insert().values(**_session_row(session)))

    async def get_link_session(self, session_id: str) -> LinkSession | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(link_sessions).where(link_sessions.c.id == session_id))
            ).first()
        return _session_from_row(row) if row else None

    async def bind_browser(self, session_id: str, browser_hash: str) -> bool:
        """Tie a session to the first browser that opens it; True if `browser_hash` is that one."""
        async with self.engine.begin() as conn:
            await conn.execute(
                link_sessions.update()
                .where(link_sessions.c.id == session_id, link_sessions.c.browser_hash.is_(None))
                .values(browser_hash=browser_hash, updated_at=time.time())
            )
            bound = (
                await conn.execute(
                    sa.select(link_sessions.c.browser_hash).where(link_sessions.c.id == session_id)
                )
            ).scalar()
        return bound == browser_hash

    async def transition(
        self, session_id: str, from_statuses: tuple[str, ...], to_status: str, **values: Any
    ) -> bool:
        """Move a session to `to_status` only if it is in one of `from_statuses`."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                link_sessions.update()
                .where(
                    link_sessions.c.id == session_id,
                    link_sessions.c.status.in_(from_statuses),
                )
                .values(status=to_status, updated_at=time.time(), **values)
            )
        return result.rowcount == 1

    # Flows

    async def create_flow(self, flow: Flow) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(flows.insert().values(**{f.name: getattr(flow, f.name) for f in fields(flow)}))

    async def get_flow(self, flow_id: str) -> Flow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(flows).where(flows.c.id == flow_id))).first()
        return Flow(**row._mapping) if row else None

    async def consume_flow(self, flow_id: str) -> Flow | None:
        """Mark a flow used and return it, or None if it is unknown or was used already."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    flows.update()
                    .where(flows.c.id == flow_id, flows.c.consumed_at.is_(None))
                    .values(consumed_at=time.time())
                    .returning(*flows.c)
                )
            ).first()
        return Flow(**row._mapping) if row else None
