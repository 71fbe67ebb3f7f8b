"""hookbay consumer for high throughput: lease up to 100 messages per call
(POST /lease, long-polling) and settle them all in one call (POST /settle).

Env: HOOKBAY_URL, HOOKBAY_TOKEN, HOOKBAY_QUEUE; MAX_MESSAGES (optional,
stop after that many, for scripts and tests).
"""
import base64
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


def lease_token(meta: dict) -> str:
    """The lease token is the `token` parameter of the meta's URLs."""
    return meta["ackUrl"].split("token=", 1)[1]


def main() -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    done = 0
    while not MAX or done < MAX:
        try:
            r = session.post(f"{URL}/v1/queues/{QUEUE}/lease",
                             json={"max": 100, "wait": 20}, timeout=30)
        except requests.RequestException as e:  # relay restarting, network blip
            print(f"relay unreachable ({e}); retrying", file=sys.stderr)
            time.sleep(2)
            continue
        if r.status_code != 200:
            print(f"relay answered {r.status_code}: {r.text}", file=sys.stderr)
            time.sleep(2)
            continue
        items = []
        for m in r.json()["messages"]:
            body = (base64.b64decode(m["payload"]) if m["encoding"] == "base64"
                    else m["payload"].encode())
            try:
                handle(body, m["meta"])
                items.append({"token": lease_token(m["meta"]), "outcome": "ack"})
            except Exception as e:  # noqa: BLE001 - any failure means "try again later"
                items.append({"token": lease_token(m["meta"]), "outcome": "nack",
                              "reason": str(e)[:500]})
        if items:
            s = session.post(f"{URL}/v1/queues/{QUEUE}/settle", json={"items": items}, timeout=30)
            for it, res in zip(items, s.json().get("results", [])):
                if res["status"] == 409:
                    print("a lease was lost before it settled; that message will come again",
                          file=sys.stderr)
            done += len(items)


if __name__ == "__main__":
    main()
