"""A local SMTP server that discards what it accepts, for bench.reminders.

    python -m bench.smtp_sink PORT                        # plain, no login
    python -m bench.smtp_sink PORT --tls CERT KEY         # STARTTLS required
    python -m bench.smtp_sink PORT --tls CERT KEY --auth  # STARTTLS, then AUTH required

aiosmtpd with its Sink handler, run in a process of its own so the client and
server never share a GIL. The aiosmtpd command line offers no login, which a
library's relay requires after STARTTLS; with ``--auth`` the server accepts the
user ``bench`` with the password ``bench``.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "bench"
PASSWORD = "bench"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", action="store_true")
    args = parser.parse_args(argv)
    options = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        options = {"tls_context": context, "require_starttls": True}
    if args.auth:
        options |= {"authenticator": _authenticate, "auth_required": True, "auth_require_tls": True}
    Controller(Sink(), hostname="127.0.0.1", port=args.port, **options).start()
    signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
