"""`hotline110`: run the engine, run the simulated city, check or render configuration.

Exit status: 0 done, 1 the engine could not start or failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from engine.errors import ConfigError, StartupError
from engine.settings import Settings, load

log = logging.getLogger("hotline110")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline110", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the engine (front, pool, ACD, HTTP)")
    run.add_argument("--config", required=True, help="TOML configuration file")

    demo = sub.add_parser("demo", help="run the simulated city on embedded defaults")
    demo.add_argument("--config", help="TOML file to start from (default: embedded defaults)")
    demo.add_argument(
        "--calls", type=int, help="calls to place, then print a summary (default: run until Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=2.0, help="calls per second (default 2)")
    demo.add_argument("--seats", type=int, default=100, help="simulated call-takers (default 100)")
    demo.add_argument("--hold", default=None, help="call hold time range in s, e.g. 2-5")
    demo.add_argument("--port-base", type=int, default=24000, help="first of the demo's ports")
    demo.add_argument(
        "--dispatch-share",
        type=float,
        default=0.3,
        help="share of answered calls dispatched to an officer, 0..1 (default 0.3)",
    )

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("--config", required=True)

    user = sub.add_parser("add-user", help="add a person or a service token to the access file")
    user.add_argument("--config", required=True)
    user.add_argument("--user", required=True, help="the person's (or service's) name")
    user.add_argument("--role", required=True, choices=("call-taker", "supervisor", "admin"))
    user.add_argument(
        "--token", action="store_true", help="a service token instead (printed once, not stored)"
    )

    front = sub.add_parser("front-config", help="write the Kamailio config for an external front")
    front.add_argument("--config", required=True)
    front.add_argument(
        "--out", required=True, help="directory to write kamailio.cfg, defs.cfg, dispatcher.list"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load(args.config) if getattr(args, "config", None) else Settings()
    except ConfigError as exc:
        print(f"hotline110: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO)
        if args.command == "run"
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.command == "check-config":
        print(f"{args.config}: ok")
        return 0
    if args.command == "add-user":
        return _add_user(args, settings)
    if args.command == "front-config":
        from sip.front import render

        files = render(settings, Path(args.out))
        print(f"wrote {files.config}, {files.defs}, {files.dispatcher}")
        return 0
    try:
        if args.command == "run":
            from engine.app import serve

            return _run(serve(settings))
        return _demo(args, settings)
    except StartupError as exc:
        print(f"hotline110: cannot start: {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from demo.city import DemoPlan, run_demo

    if (args.calls is not None and args.calls < 1) or args.rate <= 0 or args.seats < 1:
        print("hotline110: --calls, --rate and --seats must be positive", file=sys.stderr)
        return 2
    if not 0.0 <= args.dispatch_share <= 1.0:  # also refuses nan
        print("hotline110: --dispatch-share must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        hold = _hold(args.hold, fixed=args.calls is not None)
    except ValueError as exc:
        print(f"hotline110: --hold: {exc}", file=sys.stderr)
        return 2
    plan = DemoPlan(
        calls=args.calls,
        rate=args.rate,
        seats=args.seats,
        hold_ms=hold,
        dispatch_share=args.dispatch_share,
        port_base=args.port_base,
    )
    if args.calls is None:
        print(
            f"hotline110 demo: {args.seats} seats, calls at {args.rate}/s, "
            f"{args.dispatch_share:.0%} dispatched; "
            f"metrics at http://{settings.http.address}:{settings.http.port}/metrics; "
            "Ctrl-C to stop",
            flush=True,
        )
    return _run(run_demo(settings, plan))


def _add_user(args: argparse.Namespace, settings: Settings) -> int:
    """Append a user (password asked twice, or one line on stdin) or a service token."""
    import getpass
    import secrets

    from engine.access import hash_password, load_directory, token_hash

    if not settings.access.users:
        print("hotline110: set access.users in the config first", file=sys.stderr)
        return 2
    path = Path(settings.access.users)
    if not path.is_absolute():  # next to the config file, where the engine will look first
        path = Path(settings.source).parent / path
    if path.exists():
        try:
            directory = load_directory(path)
        except ConfigError as exc:
            print(f"hotline110: configuration error: {exc}", file=sys.stderr)
            return 2
        names = {*directory.users, *(p.name for p in directory.tokens.values())}
        if args.user in names:
            print(f"hotline110: {args.user!r} is already in {path}", file=sys.stderr)
            return 2
    if not all(c.isalnum() or c in "-_.@" for c in args.user):
        print("hotline110: a name is letters, digits and - _ . @", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(32)
    if args.token:
        entry = _entry("tokens", args.user, args.role, "sha256", token_hash(token))
    else:
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.user}: ")
            if getpass.getpass("again: ") != password:
                print("hotline110: the passwords differ", file=sys.stderr)
                return 2
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            print("hotline110: a password has at least 8 characters", file=sys.stderr)
            return 2
        entry = _entry("users", args.user, args.role, "password", hash_password(password))
    with path.open("a", encoding="utf-8") as out:
        out.write(("\n" if path.stat().st_size else "") + entry)
    if args.token:
        print(token)  # the only time it is shown: only its hash is kept
    print(f"added {args.user} ({args.role}) to {path}", file=sys.stderr)
    return 0


def _entry(table: str, name: str, role: str, key: str, value: str) -> str:
    return f'[[{table}]]\nname = "{name}"\nrole = "{role}"\n{key} = "{value}"\n'


def _hold(text: str | None, *, fixed: bool) -> tuple[int, int]:
    if text is None:
        return (2000, 5000) if fixed else (5000, 20000)
    low, _, high = text.partition("-")
    low_ms, high_ms = int(float(low) * 1000), int(float(high or low) * 1000)
    if not 0 < low_ms <= high_ms:
        raise ValueError("give seconds as MIN-MAX with 0 < MIN <= MAX")
    return low_ms, high_ms


def _run(coro: object) -> int:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 0
    except StartupError as exc:
        print(f"hotline110: cannot start: {exc}", file=sys.stderr)
        return 1
    except Exception:
        log.exception("hotline110 stopped on an error")
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
