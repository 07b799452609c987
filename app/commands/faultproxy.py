"""``passavant faultproxy --listen H:P --target H:P [...]``: a bad network on demand.

Runs :class:`refplatform.faultproxy.FaultProxy` (cuts, latency, throttle, 503, stalls) until
SIGINT, SIGTERM or ``--duration``, then prints what it relayed and the faults it injected.
``--ready-file`` receives the address it listens on once it does, for scripts.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from app.commands.common import CommandError
from app.commands.station import stop_on_signals
from app.i18n import _
from app.messages import human_size

__all__ = ["register_faultproxy"]


def register_faultproxy(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``faultproxy`` (registered by :func:`app.commands.outbox.register`)."""
    from refplatform.faultproxy import parse_address, parse_rate

    def address(text: str) -> tuple[str, int]:
        try:
            return parse_address(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    def rate(text: str) -> float:
        try:
            return parse_rate(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    proxy = subparsers.add_parser(
        "faultproxy",
        help="relay TCP to a target through a bad network (cuts, latency, throttle, 503, stalls)",
    )
    proxy.add_argument("--listen", type=address, default=("127.0.0.1", 0), metavar="HOST:PORT")
    proxy.add_argument("--target", type=address, required=True, metavar="HOST:PORT")
    proxy.add_argument("--cut-every", type=rate, metavar="BYTES", help="cut after N bytes up")
    proxy.add_argument("--latency", type=float, default=0.0, metavar="MS", help="each way")
    proxy.add_argument("--bandwidth", type=rate, metavar="RATE", help="bytes/s, or 4mbit, 500k")
    proxy.add_argument("--error-503-rate", type=float, default=0.0, metavar="SHARE")
    proxy.add_argument("--retry-after", type=float, metavar="S", help="Retry-After of the 503s")
    proxy.add_argument("--stall-rate", type=float, default=0.0, metavar="SHARE")
    proxy.add_argument("--stall-hold", type=float, default=60.0, metavar="S")
    proxy.add_argument("--seed", type=int, help="seed of the random faults")
    proxy.add_argument("--max-connections", type=int, default=64, metavar="N")
    proxy.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    proxy.add_argument("--ready-file", type=Path, metavar="F", help="write HOST:PORT here")
    proxy.set_defaults(handler=_faultproxy)


def _faultproxy(args: argparse.Namespace) -> int:
    from refplatform.faultproxy import FaultProxy

    proxy = FaultProxy(
        args.target, listen=args.listen, seed=args.seed, max_connections=args.max_connections
    )
    try:
        proxy.set_cut_every(None if args.cut_every is None else int(args.cut_every))
        proxy.set_latency(args.latency / 1000.0)
        proxy.set_bandwidth(args.bandwidth)
        proxy.set_error_503(args.error_503_rate, args.retry_after)
        proxy.set_stall(args.stall_rate, hold=args.stall_hold)
    except ValueError as exc:
        raise CommandError(_("réglage invalide : {detail}").format(detail=exc), status=2) from exc
    try:
        proxy.start()
    except OSError as exc:
        raise CommandError(
            _("impossible d’écouter sur {host}:{port}.").format(
                host=args.listen[0], port=args.listen[1]
            )
        ) from exc
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            here = f"{proxy.host}:{proxy.port}"
            if args.ready_file is not None:
                from outbox.spool import atomic_write

                atomic_write(args.ready_file, (here + "\n").encode())
            target = f"{args.target[0]}:{args.target[1]}"
            print(
                _("Proxy de pannes : {here} → {target}").format(here=here, target=target),
                flush=True,
            )
            stop.wait(args.duration)
    finally:
        proxy.stop()
    c = proxy.counters()
    print(
        _(
            "Relayé : {up} vers la cible, {down} vers les clients ; {cuts} coupure(s), "
            "{errors} réponse(s) 503, {stalls} blocage(s)."
        ).format(
            up=human_size(c.bytes_up),
            down=human_size(c.bytes_down),
            cuts=c.cuts,
            errors=c.errors_503,
            stalls=c.stalls,
        )
    )
    return 0
