"""hookbay consumer: a /next long-polling loop with requests.

Env: HOOKBAY_URL, HOOKBAY_TOKEN, HOOKBAY_QUEUE; MAX_MESSAGES (optional,
stop after that many, for scripts and tests).
"""
import json
import os
import sys
import time

import requests

URL = os.environ["HOOKBAY_URL"].rstrip("/")
TOKEN = os.environ["HOOKBAY_TOKEN"]
QUEUE = os.environ["HOOKBAY_QUEUE"]
MAX = int(os.environ.get("MAX_MESSAGES", "0"))


def handle(body: bytes, meta: dict) -> None:
    """Your work goes here. Raise to have the message redelivered."""
    print(f"{meta['messageId']} attempt {meta['attempt']}: {len(body)} bytes", flush=True)


def main() -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    done = 0
    while not MAX or done < MAX:
        try:
            r = session.get(f"{URL}/v1/queues/{QUEUE}/next", params={"wait": 30}, timeout=40)
        except requests.RequestException as e:  # relay restarting, network blip
            print(f"relay unreachable ({e}); retrying", file=sys.stderr)
            time.sleep(2)
            continue
        if r.status_code == 204:  # nothing within `wait`
            continue
        if r.status_code != 200:
            print(f"relay answered {r.status_code}: {r.text}", file=sys.stderr)
            time.sleep(2)
            continue
        meta = json.loads(r.headers["X-Hookbay-Meta"])
        try:
            handle(r.content, meta)
        except Exception as e:  # noqa: BLE001 - any failure means "try again later"
            requests.post(meta["nackUrl"], json={"reason": str(e)[:500]}, timeout=10)
        else:
            ack = requests.post(meta["ackUrl"], timeout=10)
            if ack.status_code == 409:
                print("lease lost before the ack; the message will come again", file=sys.stderr)
        done += 1


if __name__ == "__main__":
    main()
