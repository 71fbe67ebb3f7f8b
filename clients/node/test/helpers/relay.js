// Starts a real hookbay relay (embedded store) for the tests, and
// provisions one tenant, token, source and queue per test.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../..');
export const BIN = resolve(process.env.HOOKBAY_BIN || join(repoRoot, 'target/debug/hookbay'));

export async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

export class Relay {
  constructor({ port, dataDir, adminToken, secretKey }) {
    this.port = port;
    this.dataDir = dataDir;
    this.adminToken = adminToken;
    this.secretKey = secretKey;
    this.url = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = '';
  }

  static async start() {
    if (!existsSync(BIN)) throw new Error(`hookbay binary not found at ${BIN} (set HOOKBAY_BIN)`);
    const relay = new Relay({
      port: await freePort(),
      dataDir: mkdtempSync(join(tmpdir(), 'hookbay-node-test-')),
      adminToken: `admin-${randomBytes(16).toString('hex')}`,
      secretKey: randomBytes(32).toString('hex'),
    });
    await relay.spawn();
    return relay;
  }

  /** Start the process (again) on the same port and data dir; resolves when /readyz answers 200. */
  async spawn() {
    const proc = spawn(BIN, ['serve'], {
      env: {
        ...process.env,
        HOOKBAY_LISTEN: `127.0.0.1:${this.port}`,
        HOOKBAY_ADMIN_TOKEN: this.adminToken,
        HOOKBAY_SECRET_KEY: this.secretKey,
        HOOKBAY_DATA_DIR: this.dataDir,
        HOOKBAY_LOG_FORMAT: 'json',
        HOOKBAY_LOG: process.env.HOOKBAY_LOG || 'info',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const exited = once(proc, 'exit').then(([code, sig]) => {
      throw new Error(`hookbay exited early (${code ?? sig}):\n${this.log.slice(-2000)}`);
    });
    exited.catch(() => {});
    // the "listening" log line is the event to wait for
    const listening = new Promise((resolveListening) => {
      const onData = (chunk) => {
        this.log += chunk.toString();
        if (this.log.length > 100_000) this.log = this.log.slice(-50_000);
        if (/listening/.test(this.log)) resolveListening();
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
    });
    const timeout = new Promise((_, reject) => {
      const t = setTimeout(() => reject(new Error(`hookbay did not start within 30 s:\n${this.log.slice(-2000)}`)), 30_000);
      t.unref();
    });
    await Promise.race([listening, exited, timeout]);
    // listening does not yet mean the store is writable: /readyz says so
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`${this.url}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not accepting yet
      }
      if (Date.now() > deadline) throw new Error(`hookbay never became ready:\n${this.log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    this.log = '';
  }

  /** SIGKILL the process and wait for it to be gone. */
  async kill() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = once(proc, 'exit');
    proc.kill('SIGKILL');
    await gone;
  }

  async restart() {
    await this.kill();
    await this.spawn();
  }

  async stop() {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async api(method, path, { token = this.adminToken, body } = {}) {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * A fresh tenant with a token, a `none` source and a queue.
   * @param {object} [queueOptions] extra fields of POST /v1/queues
   * @param {object} [sourceOptions] extra fields of POST /v1/sources
   */
  async provision(queueOptions = {}, sourceOptions = {}) {
    const tenant = await this.api('POST', '/v1/tenants', { body: { name: `t-${randomBytes(4).toString('hex')}` } });
    const { token } = await this.api('POST', `/v1/tenants/${tenant.id}/tokens`, {
      body: { scopes: ['manage', 'consume', 'replay', 'read'] },
    });
    const source = await this.api('POST', '/v1/sources', { token, body: { name: 's', verification: { type: 'none' }, ...sourceOptions } });
    const queue = await this.api('POST', '/v1/queues', { token, body: { sourceId: source.id, name: 'q', ...queueOptions } });
    const relay = this;
    return {
      tenantId: tenant.id,
      token,
      sourceId: source.id,
      queueId: queue.id,
      ingestUrl: source.ingestUrl,
      /** POST a webhook to the source; resolves with the message id. */
      async deliver(body, contentType = 'application/json', headers = {}) {
        const res = await fetch(source.ingestUrl, {
          method: 'POST',
          headers: { 'content-type': contentType, ...headers },
          body,
        });
        const text = await res.text();
        if (res.status !== 202) throw new Error(`ingest → ${res.status}: ${text}`);
        return JSON.parse(text).id;
      },
      /** GET /v1/queues/{id} (policy and counts). */
      queue: () => relay.api('GET', `/v1/queues/${queue.id}`, { token }),
      /** Another queue on the same source (each message fans out to both). */
      addQueue: async (options = {}) =>
        (await relay.api('POST', '/v1/queues', { token, body: { sourceId: source.id, name: 'q2', ...options } })).id,
      deleteQueue: (id = queue.id) => relay.api('DELETE', `/v1/queues/${id}`, { token }),
      message: (id) => relay.api('GET', `/v1/messages/${id}`, { token }),
      /** Another token of this tenant: {id, token}. */
      mintToken: (scopes = ['consume']) =>
        relay.api('POST', `/v1/tenants/${tenant.id}/tokens`, { body: { scopes } }),
      revokeToken: (id) => relay.api('DELETE', `/v1/tenants/${tenant.id}/tokens/${id}`),
    };
  }
}
