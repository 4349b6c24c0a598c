"""The `oauth-service` command: serve, check-config, demo, link."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .logs import configure_logging
from .settings import ConfigError, Settings, load_settings


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print("The configuration cannot run:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from .app import create_app

    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    port = args.port or int(os.environ.get("PORT", "8000"))
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=port,
        log_level=settings.log_level,
        log_config=None,  # our handler (JSON lines with request ids) prints uvicorn's records too
        proxy_headers=True,
        access_log=False,
    )


def cmd_check_config(args: argparse.Namespace) -> None:
    from .check import report

    text, ok = report()
    print(text)
    if not ok:
        raise SystemExit(2)


def cmd_link(args: argparse.Namespace) -> None:
    from .api import new_link_session
    from .errors import ApiProblem
    from .services import Services

    settings = _settings_or_exit()
    origin = next(iter(sorted(settings.allowed_redirect_origins)), settings.public_url)
    data = {
        "name": args.name,
        "features": args.features.split(","),
        "success_redirect_url": args.success_url or f"{origin}/linked",
        "failure_redirect_url": args.failure_url or f"{origin}/link-failed",
    }
    if args.provider:
        data["providers"] = args.provider

    async def run() -> str:
        svc = Services.build(settings)
        await svc.start(worker=False)
        try:
            session = await new_link_session(svc, data)
            return svc.link_url(session.id)
        finally:
            await svc.aclose()

    try:
        print(asyncio.run(run()))
    except ApiProblem as exc:
        for err in exc.errors:
            print(f"{err.field}: {err.message}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oauth-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service (honours PORT)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate configuration, print redirect URIs")
    check.set_defaults(func=cmd_check_config)

    demo = sub.add_parser("demo", help="the whole flow on this machine, no credentials needed")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=cmd_demo)

    link = sub.add_parser("link", help="print a link-session URL, for trying things by hand")
    link.add_argument("--name", required=True, help="your reference for the user")
    link.add_argument("--features", default="calendar", help="calendar, mail or calendar,mail")
    link.add_argument("--provider", action="append", choices=["google", "microsoft"])
    link.add_argument("--success-url")
    link.add_argument("--failure-url")
    link.set_defaults(func=cmd_link)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
