"""A local SMTP server for the notification tests: python aiosmtpd (a third-party SMTP implementation) on
127.0.0.1:PORT. Prints "ready" once it listens, then one JSON line per message received: its envelope sender,
recipients and the message text. Runs until killed or its standard input closes."""

import json
import sys

from aiosmtpd.controller import Controller


class Print:
    async def handle_DATA(self, server, session, envelope):
        line = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        print(json.dumps(line), flush=True)
        return "250 OK"


def main():
    port = int(sys.argv[1])
    controller = Controller(Print(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
