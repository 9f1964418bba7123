#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# A real SMTP server on loopback for tests and benchmarks: aiosmtpd, with
# STARTTLS (a test CA's certificate), AUTH, and switches for the failures
# the agent must handle. Prints the port it listens on as its first line;
# runs until SIGTERM.
#
#   smtp-server.py --certs DIR           make DIR/ca.pem, server.pem, server.key
#   smtp-server.py --out DIR [--cert C --key K] [--no-tls] [--tls-optional]
#                  [--auth USER:PASS] [--fail-first N] [--reject-domain D]
#                  [--data-delay SECONDS]
#
# Each accepted message is written to DIR as NNNNN.eml; DIR/events.log gets
# one line per event: "auth ok|refused", "rcpt 451|550 ...", "data 250 <id>".

import argparse
import asyncio
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def make_certs(folder):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=MyHealthFollowup Test CA",
        "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(folder / "server.key"), "-out", str(folder / "server.csr"))
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(folder / "ca.pem"),
        "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(folder / "san.cnf"), "-out", str(folder / "server.pem"))


class Handler:
    def __init__(self, args):
        self.out = pathlib.Path(args.out)
        self.fail_left = args.fail_first
        self.reject_domain = args.reject_domain
        self.data_delay = args.data_delay
        self.count = 0
        self.lock = threading.Lock()

    def log(self, line):
        with self.lock, open(self.out / "events.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_domain and address.lower().endswith("@" + self.reject_domain):
            self.log("rcpt 550")
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if self.fail_left > 0:
            self.fail_left -= 1
            self.log("rcpt 451")
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.count += 1
            name = "%05d.eml" % self.count
        (self.out / name).write_bytes(envelope.original_content)
        message_id = ""
        for line in envelope.original_content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
                break
        self.log("data 250 %s %s" % (message_id, "tls" if session.ssl else "plain"))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--certs")
    parser.add_argument("--out")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--tls-optional", action="store_true")
    parser.add_argument("--auth")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--reject-domain")
    parser.add_argument("--data-delay", type=float, default=0)
    args = parser.parse_args()

    if args.certs:
        make_certs(args.certs)
        return

    pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
    handler = Handler(args)

    kwargs = {}
    if not args.no_tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = not args.tls_optional
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode() == user and auth_data.password.decode() == password)
            handler.log("auth " + ("ok" if ok else "refused"))
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = not args.no_tls

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            server_hostname="localhost", **kwargs)
    controller.start()
    print(port, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
