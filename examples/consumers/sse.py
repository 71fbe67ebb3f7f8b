"""hookbay consumer: a Server-Sent Events loop with requests (streaming).

Env: HOOKBAY_URL, HOOKBAY_TOKEN, HOOKBAY_QUEUE; MAX_MESSAGES (optional).
Reconnects forever with capped backoff; acks each message after handling.
"""
import base64
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
    print(f"{meta['messageId']} attempt {meta['attempt']}: {len(body)} bytes", flush=True)


def events(resp):
    """Yield (event, data) pairs from a text/event-stream response."""
    event, data = "message", []
    for raw in resp.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif raw.startswith(":"):
            continue  # keep-alive comment
        elif raw.startswith("event:"):
            event = raw[6:].strip()
        elif raw.startswith("data:"):
            data.append(raw[5:].lstrip(" "))


def main() -> None:
    done, backoff = 0, 1.0
    while not MAX or done < MAX:
        try:
            with requests.get(
                f"{URL}/v1/queues/{QUEUE}/stream",
                params={"prefetch": 10},
                headers={"Authorization": f"Bearer {TOKEN}"},
                stream=True,
                timeout=(10, 60),  # the relay sends a keep-alive every 10 s
            ) as resp:
                resp.raise_for_status()
                backoff = 1.0
                for event, data in events(resp):
                    if event != "message":
                        continue
                    msg = json.loads(data)
                    body = (
                        base64.b64decode(msg["payload"])
                        if msg["encoding"] == "base64"
                        else msg["payload"].encode()
                    )
                    meta = msg["meta"]
                    try:
                        handle(body, meta)
                    except Exception as e:  # noqa: BLE001
                        requests.post(meta["nackUrl"], json={"reason": str(e)[:500]}, timeout=10)
                    else:
                        requests.post(meta["ackUrl"], timeout=10)
                    done += 1
                    if MAX and done >= MAX:
                        return
        except requests.RequestException as e:
            print(f"stream lost ({e}); reconnecting in {backoff:.0f}s", file=sys.stderr)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)


if __name__ == "__main__":
    main()
