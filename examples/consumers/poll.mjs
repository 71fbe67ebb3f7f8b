// hookbay consumer: a /next long-polling loop with Node's built-in fetch.
// Env: HOOKBAY_URL, HOOKBAY_TOKEN, HOOKBAY_QUEUE; MAX_MESSAGES (optional).
const URL = process.env.HOOKBAY_URL.replace(/\/$/, "");
const auth = { Authorization: `Bearer ${process.env.HOOKBAY_TOKEN}` };
const QUEUE = process.env.HOOKBAY_QUEUE;
const MAX = Number(process.env.MAX_MESSAGES || 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function handle(body, meta) {
  // your work goes here; throw to have the message redelivered
  console.log(`${meta.messageId} attempt ${meta.attempt}: ${body.byteLength} bytes`);
}

let done = 0;
while (!MAX || done < MAX) {
  let res;
  try {
    res = await fetch(`${URL}/v1/queues/${QUEUE}/next?wait=30`, { headers: auth });
  } catch (e) {
    console.error(`relay unreachable (${e.message}); retrying`);
    await sleep(2000);
    continue;
  }
  if (res.status === 204) continue;
  if (res.status !== 200) {
    console.error(`relay answered ${res.status}: ${await res.text()}`);
    await sleep(2000);
    continue;
  }
  const meta = JSON.parse(res.headers.get("x-hookbay-meta"));
  const body = new Uint8Array(await res.arrayBuffer());
  try {
    await handle(body, meta);
    await fetch(meta.ackUrl, { method: "POST" });
  } catch (e) {
    await fetch(meta.nackUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: String(e).slice(0, 500) }),
    });
  }
  done += 1;
}
