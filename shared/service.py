"""What every service process is made of, and how it runs.

A service is one FastStream app (its Kafka subscribers) plus one small ASGI app for HTTP
(health checks, and the service's own API). uvicorn or Granian (``<PREFIX>HTTP_SERVER``) runs
the ASGI app; the ASGI lifespan starts and stops the FastStream app, so SIGTERM drains in-flight
messages, commits, and closes cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.telemetry import TelemetryConfig
from faststream import FastStream
from faststream.kafka import KafkaBroker
from opentelemetry.trace import TracerProvider
from pymongo import AsyncMongoClient
from starlette.types import ASGIApp

from shared import display, tracing
from shared.bodylimit import limits_of
from shared.groups import GroupWatch, adopt_offsets
from shared.messaging import DeadLetterPolicy, ensure_topics, make_broker
from shared.metrics import KafkaLag, ServiceMetrics, subscribed_groups
from shared.observability import setup_logging
from shared.ratelimit import RateLimit, parse_limits
from shared.registry import Registry
from shared.settings import ServiceSettings
from shared.storage import Collection, Database, Document, connect, ensure_indexes


@dataclass
class Runtime:
    """The connections a service holds for its lifetime."""

    name: str
    settings: ServiceSettings
    broker: KafkaBroker
    dead_letters: DeadLetterPolicy
    client: AsyncMongoClient[Document]
    db: Database
    registry: Registry
    log: logging.Logger
    metrics: ServiceMetrics | None = None  # served at /metrics (shared.metrics)
    tracer_provider: TracerProvider | None = None  # shared.tracing
    watch: GroupWatch | None = None  # /healthz fails on a stalled consumer group (shared.groups)


def build_runtime(name: str, settings: ServiceSettings) -> Runtime:
    log = setup_logging(name, settings.infra.log_level, settings.infra.log_format)
    provider = tracing.setup_tracing(name)
    metrics = ServiceMetrics(name)
    broker, policy = make_broker(name, settings, metrics=metrics, tracer_provider=provider)
    metrics.lag_source = KafkaLag(
        settings.infra.kafka_bootstrap_servers,
        lambda: subscribed_groups(broker),
        client_id=f"{name}-metrics",
    )
    metrics.topics = lambda: {t for ts in subscribed_groups(broker).values() for t in ts}
    watch = None
    if settings.consumer_stall_seconds > 0:
        watch = GroupWatch(
            settings.infra.kafka_bootstrap_servers,
            lambda: subscribed_groups(broker),
            settings.consumer_stall_seconds,
            client_id=f"{name}-group-watch",
            on_check=metrics.record_unowned,
        )
    client = connect(settings.infra, name, metrics.registry)
    db = client[settings.infra.mongodb_database]
    return Runtime(
        name, settings, broker, policy, client, db, Registry(db), log, metrics, provider, watch
    )


def build_app(rt: Runtime, collections: Sequence[Collection]) -> FastStream:
    """The FastStream app: topics and indexes exist before the first message is consumed."""
    app = FastStream(rt.broker, logger=rt.log)

    @app.on_startup
    async def _prepare() -> None:
        await ensure_topics(rt.settings.infra)
        await adopt_offsets(rt.settings.infra.kafka_bootstrap_servers, subscribed_groups(rt.broker))
        await ensure_indexes(rt.db, collections)

    @app.after_shutdown
    async def _close() -> None:
        await rt.client.close()
        if rt.metrics is not None:
            await rt.metrics.close()
        if rt.tracer_provider is not None:
            await asyncio.to_thread(tracing.shutdown_tracing, rt.tracer_provider)

    return app


def health_router(rt: Runtime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive and its consumers are in their groups")
    async def healthz(response: Response) -> dict[str, Any]:
        watch = rt.watch
        stalled = watch.stalled() if watch is not None else []
        if watch is not None and stalled:
            response.status_code = 503
            return {
                "status": "stalled",
                "service": rt.name,
                "unowned": stalled,
                "reason": f"no consumer has owned these partitions for over "
                f"{watch.limit:.0f} s; restarting the replica rejoins",
            }
        return {"status": "ok", "service": rt.name}

    @router.get("/readyz", summary="Broker and database reachable")
    async def readyz(response: Response) -> dict[str, Any]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(rt.db.command("ping"), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {exc.__class__.__name__}"
        try:
            ok = await asyncio.wait_for(rt.broker.ping(timeout=2.0), 3.0)
            checks["broker"] = "ok" if ok else "unreachable"
        except Exception as exc:
            checks["broker"] = f"unreachable: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        if rt.metrics is not None:  # what the readiness probe found, for the alert rules
            rt.metrics.ready.labels(rt.name).set(1 if ready else 0)
        return {"status": "ready" if ready else "not ready", "checks": checks}

    metrics = rt.metrics
    if metrics is not None:

        @router.get("/metrics", summary="Prometheus metrics (text exposition format)")
        async def prometheus() -> Response:
            body, content_type = await metrics.exposition()  # the broker only, never the DB
            return Response(body, media_type=content_type)

    return router


# FastAPI's own OpenTelemetry instrumentation would put spans and metrics on every request, feed
# polls included (it finds our global tracer provider), and costs the feeds tier more than half
# its requests per second (docs/benchmarks.md, Feeds). TraceRequests already traces what is
# worth tracing (writes, and requests that join a trace); /metrics is ours.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False}


def asgi_app(rt: Runtime, app: FastStream, **fastapi_options: Any) -> FastAPI:
    """A FastAPI app whose lifespan runs the FastStream app; add the service's routes to it.
    Every route's body is limited (shared.bodylimit); routes that take uploads say so in
    ``shared.bodylimit.limits_of(api)`` as they are installed."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await app.start()
        rt.log.info("started", extra={"kafka": rt.settings.infra.kafka_bootstrap_servers})
        watching = asyncio.create_task(rt.watch.run()) if rt.watch is not None else None
        try:
            yield
        finally:
            if watching is not None and rt.watch is not None:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
                await rt.watch.close()
            await app.stop()
            rt.log.info("stopped")

    fastapi_options.setdefault("telemetry", FASTAPI_TELEMETRY)
    api = FastAPI(lifespan=lifespan, **fastapi_options)
    api.state.metrics = rt.metrics  # serve() counts rate-limited requests there
    # Every HTML page, error pages included, carries the strict CSP (issue 18, finding 8).
    api.add_middleware(display.PageHeaders, docs=(api.docs_url, api.redoc_url))
    api.include_router(health_router(rt))
    limits_of(api)  # every route's body limited, before any parsing (shared.bodylimit)
    if rt.tracer_provider is not None:
        api.add_middleware(tracing.TraceRequests, tracer_provider=rt.tracer_provider)
    return api


def serve(api: FastAPI, settings: ServiceSettings) -> None:
    """Run until SIGINT/SIGTERM; the server's graceful shutdown drives the lifespan above.
    The rate limit goes in front of everything here, once every route and middleware (the feeds
    fast path included) is in place. One process, one replica: neither server forks workers."""
    metrics: ServiceMetrics | None = getattr(api.state, "metrics", None)
    refused = metrics.http_refused.labels(metrics.service) if metrics is not None else None
    # The app's own front door, in front of FastAPI (the feeds service's fast path), if any.
    front: Callable[[ASGIApp], ASGIApp] | None = getattr(api.state, "asgi_front", None)
    limits = parse_limits(settings.rate_limit)
    app = RateLimit(front(api) if front is not None else api, limits, refused)
    if settings.http_server == "granian":
        _granian(app, settings)
        return
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run()


def _granian(app: ASGIApp, settings: ServiceSettings) -> None:
    """Granian, embedded in this process's event loop (uvloop, as uvicorn picks): the lifespan
    runs here, and SIGINT/SIGTERM stop it as they stop uvicorn (connections closed, then the
    lifespan's shutdown, which drains the consumers). ``X-Forwarded-For`` is honoured from
    ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1), as uvicorn does."""
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    server = Server(
        wrap_asgi_with_proxy_headers(app, trusted),
        address=settings.http_host,
        port=settings.http_port,
        interface=Interfaces.ASGI,  # with the lifespan
        http=HTTPModes.http1,
        websockets=False,
        backlog=1024,
        log_level=LogLevels.warning,
        # granian's own messages go through our (JSON) handlers on the root logger
        log_dictconfig={"version": 1, "loggers": {"_granian": {"propagate": True}}},
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(run())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return None
    return uvloop.new_event_loop
