// hookbay consumer: Server-Sent Events with fetch and a small parser
// (Node has no EventSource). Env: HOOKBAY_URL, HOOKBAY_TOKEN, HOOKBAY_QUEUE;
// MAX_MESSAGES (optional). Reconnects with capped backoff.
const URL = process.env.HOOKBAY_URL.replace(/\/$/, "");
const QUEUE = process.env.HOOKBAY_QUEUE;
const MAX = Number(process.env.MAX_MESSAGES || 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function handle(body, meta) {
  console.log(`${meta.messageId} attempt ${meta.attempt}: ${body.length} bytes`);
}

// Yield {event, data} from a text/event-stream body.
async function* events(stream) {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

let done = 0;
let backoff = 1000;
outer: while (!MAX || done < MAX) {
  try {
    const res = await fetch(`${URL}/v1/queues/${QUEUE}/stream?prefetch=10`, {
      headers: { Authorization: `Bearer ${process.env.HOOKBAY_TOKEN}` },
    });
    if (!res.ok) throw new Error(`relay answered ${res.status}`);
    backoff = 1000;
    for await (const { event, data } of events(res.body)) {
      if (event !== "message") continue;
      const msg = JSON.parse(data);
      const body = msg.encoding === "base64" ? Buffer.from(msg.payload, "base64") : Buffer.from(msg.payload);
      try {
        await handle(body, msg.meta);
        await fetch(msg.meta.ackUrl, { method: "POST" });
      } catch (e) {
        await fetch(msg.meta.nackUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ reason: String(e).slice(0, 500) }),
        });
      }
      done += 1;
      if (MAX && done >= MAX) break outer;
    }
  } catch (e) {
    console.error(`stream lost (${e.message}); reconnecting in ${backoff / 1000}s`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 30000);
  }
}
process.exit(0);
