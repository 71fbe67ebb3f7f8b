"""Runs a real hookbay relay for the tests and provisions tenants on it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "test-admin-token-" + secrets.token_hex(8)
SECRET_KEY = "test-secret-key-" + secrets.token_hex(24)
READY_TIMEOUT = 60.0


def relay_binary() -> Path:
    """HOOKBAY_BIN (relative paths are taken from the repo root), else
    target/debug/hookbay of the repo."""
    value = os.environ.get("HOOKBAY_BIN") or "target/debug/hookbay"
    path = Path(value)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the test process
    dies, so a killed pytest leaves no relay behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, not on every platform
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Relay:
    """One `hookbay serve` process on the embedded store. ``stop()`` and
    ``start()`` again keep the port and the data dir (a restart)."""

    def __init__(self, binary: Path, data_dir: Optional[Path] = None) -> None:
        if not binary.is_file():
            raise RuntimeError(
                f"hookbay binary not found at {binary}: build it (cargo build) or set HOOKBAY_BIN"
            )
        self.binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="hookbay-pytest-")
        self.data_dir = data_dir or Path(self._tmp.name) / "data"
        self.log_path = Path(self._tmp.name) / "relay.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.admin = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            HOOKBAY_LISTEN=f"127.0.0.1:{self.port}",
            HOOKBAY_ADMIN_TOKEN=ADMIN_TOKEN,
            HOOKBAY_SECRET_KEY=SECRET_KEY,
            HOOKBAY_DATA_DIR=str(self.data_dir),
            HOOKBAY_LOG=env.get("HOOKBAY_LOG", "warn"),
        )
        env.pop("HOOKBAY_PUBLIC_URL", None)
        env.pop("HOOKBAY_REDIS_URL", None)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the relay exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the relay was not ready in {READY_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)  # readiness has no event to wait on

    def stop(self) -> None:
        """SIGTERM, and wait for the process to be gone (SIGKILL after 20 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.admin.close()
        self._tmp.cleanup()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # --- provisioning -------------------------------------------------------

    def tenant(self, **queue_policy: Any) -> "Tenant":
        """A fresh tenant with a token, a `none`-verified source and a queue."""
        t = _ok(self.admin.post("/v1/tenants", json={"name": "t-" + secrets.token_hex(4)}))
        scopes = ["manage", "consume", "replay", "read"]
        tok = _ok(self.admin.post(f"/v1/tenants/{t['id']}/tokens", json={"scopes": scopes}))
        api = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {tok['token']}"}, timeout=30
        )
        src = _ok(api.post("/v1/sources", json={"name": "s", "verification": {"type": "none"}}))
        q = _ok(api.post("/v1/queues", json={"sourceId": src["id"], "name": "q", **queue_policy}))
        return Tenant(
            relay=self,
            tenant_id=t["id"],
            token=tok["token"],
            token_id=tok["id"],
            source_id=src["id"],
            ingest_url=src["ingestUrl"],
            queue_id=q["id"],
            api=api,
        )


def _ok(r: httpx.Response) -> Dict[str, Any]:
    what = f"{r.request.method} {r.request.url}"
    assert r.status_code in (200, 201, 202), f"{what}: {r.status_code} {r.text}"
    doc = r.json()
    assert isinstance(doc, dict)
    return doc


@dataclass
class Tenant:
    relay: Relay
    tenant_id: str
    token: str
    token_id: str
    source_id: str
    ingest_url: str
    queue_id: str
    api: httpx.Client

    @property
    def url(self) -> str:
        return self.relay.url

    def deliver(
        self,
        body: bytes = b'{"hello": "world"}',
        content_type: Optional[str] = "application/json",
        headers: Optional[Dict[str, str]] = None,
    ) -> str:
        """POST to the ingest URL; the stored message's id."""
        h = dict(headers or {})
        if content_type is not None:
            h["Content-Type"] = content_type
        r = httpx.post(self.ingest_url, content=body, headers=h, timeout=30)
        assert r.status_code == 202, f"ingest: {r.status_code} {r.text}"
        return str(r.json()["id"])

    def queue(self) -> Dict[str, Any]:
        return _ok(self.api.get(f"/v1/queues/{self.queue_id}"))

    def counts(self) -> Dict[str, Any]:
        counts = self.queue().get("counts")
        assert isinstance(counts, dict)
        return counts

    def message(self, message_id: str) -> Dict[str, Any]:
        return _ok(self.api.get(f"/v1/messages/{message_id}"))

    def mint_token(self, scopes: List[str]) -> str:
        """Another token of this tenant (by the operator)."""
        tok = _ok(
            self.relay.admin.post(f"/v1/tenants/{self.tenant_id}/tokens", json={"scopes": scopes})
        )
        return str(tok["token"])

    def delete_queue(self) -> None:
        r = self.api.delete(f"/v1/queues/{self.queue_id}")
        assert r.status_code in (200, 204), r.text

    def revoke_token(self) -> None:
        r = self.relay.admin.delete(f"/v1/tenants/{self.tenant_id}/tokens/{self.token_id}")
        assert r.status_code in (200, 204), r.text

    def close(self) -> None:
        self.api.close()
