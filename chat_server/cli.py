"""`chat-server`: parse options, build the core, and hand it to the chosen backend."""

from __future__ import annotations

import argparse
import logging
import sys

from chat_server.backends import BACKENDS, DEFAULT_BACKEND, BackendUnavailable, load_backend
from chat_server.backends.base import DEFAULT_WORKERS, SELECTORS, ServeOptions
from chat_server.core import CoreConfig, Hub
from protocol.framing import MAX_FRAME_LIMIT

log = logging.getLogger("chat_server")


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value}")
    return number


def _frame_size(value: str) -> int:
    number = _positive(value)
    if number < 256 or number > MAX_FRAME_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 256 and {MAX_FRAME_LIMIT}")
    return number


def build_parser() -> argparse.ArgumentParser:
    defaults = CoreConfig()
    parser = argparse.ArgumentParser(
        prog="chat-server",
        description="wirechat server: chat rooms over length-prefixed JSON on TCP.",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=DEFAULT_BACKEND,
        help=f"IO backend (default: {DEFAULT_BACKEND})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8089, help="port to bind, 0 for any (default: 8089)"
    )
    parser.add_argument(
        "--max-frame",
        type=_frame_size,
        default=defaults.max_frame,
        help=f"largest frame body accepted, in bytes (default: {defaults.max_frame})",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=defaults.history,
        help=f"messages kept per room and replayed on join (default: {defaults.history})",
    )
    parser.add_argument(
        "--max-clients",
        type=_positive,
        default=defaults.max_clients,
        help=f"connections accepted at once (default: {defaults.max_clients})",
    )
    parser.add_argument(
        "--max-outbuf",
        type=_positive,
        default=defaults.max_outbuf,
        help="bytes waiting to be sent to one client before it is dropped as a slow consumer "
        f"(default: {defaults.max_outbuf})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive_seconds,
        default=defaults.idle_timeout,
        help="seconds without a frame from a client before it is dropped "
        f"(default: {defaults.idle_timeout:g})",
    )
    parser.add_argument(
        "--selector",
        choices=list(SELECTORS),
        default="default",
        help="selectors backend only: the system call that waits for sockets "
        "(default: the best one here, epoll on Linux)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help="threadpool backend only: pool size, which is also the most clients served at once "
        f"(default: {DEFAULT_WORKERS})",
    )
    parser.add_argument("--password", default=None, help="require this password in hello")
    parser.add_argument("--motd", default=None, help="message of the day sent in welcome")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if args.history < 0:
        print("chat-server: --history must not be negative", file=sys.stderr)
        return 2
    try:
        serve = load_backend(args.backend)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    config = CoreConfig(
        max_frame=args.max_frame,
        history=args.history,
        max_clients=args.max_clients,
        max_outbuf=args.max_outbuf,
        idle_timeout=args.idle_timeout,
        password=args.password,
        motd=args.motd,
    )
    hub = Hub(config, backend=args.backend)

    def ready(host: str, port: int) -> None:
        log.info("listening on %s:%d backend=%s", host, port, args.backend)

    try:
        options = ServeOptions(
            host=args.host,
            port=args.port,
            ready=ready,
            selector=args.selector,
            workers=args.workers,
        )
        serve(hub, options)
    except BackendUnavailable as exc:
        print(f"chat-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chat-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
