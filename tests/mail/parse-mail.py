#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# An independent reader for the messages the agent sends: Python's own
# email package, strict policy. Reads every .eml file in a folder and prints
# one JSON object per message (decoded headers and parts), sorted by
# Message-ID, so that C tests can check them without trusting GMime.

import email
import email.policy
import json
import pathlib
import sys


def describe(raw):
    message = email.message_from_bytes(raw, policy=email.policy.strict)
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        parts.append({
            "type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "encoding": part.get("Content-Transfer-Encoding", ""),
            "text": part.get_content(),
        })
    return {
        "message_id": message["Message-ID"],
        "from": str(message["From"]),
        "to": str(message["To"]),
        "reply_to": str(message.get("Reply-To", "")),
        "subject": str(message["Subject"]),
        "date": str(message.get("Date", "")),
        "auto_submitted": str(message.get("Auto-Submitted", "")),
        "list_unsubscribe": str(message.get("List-Unsubscribe", "")),
        "content_type": message.get_content_type(),
        "crlf": b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""),
        "ascii_headers": all(ord(c) < 128 for c in raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")),
        "parts": parts,
    }


def main():
    folder = pathlib.Path(sys.argv[1])
    messages = [describe(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]
    messages.sort(key=lambda m: m["message_id"] or "")
    json.dump(messages, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
