// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript, run as it is by Deno, Node.js and Bun
// `AuthSession.fetch` against raw fetch, over a real loopback HTTP server, for
// `deno task bench` (the `fetch` part). Plain JavaScript, so that Deno, Node.js
// and Bun run the same file: `<runtime> fetch_ratio.mjs MODULE SERVER ROUNDS BATCH CALLS`.
//
// Three clients take turns in every round, in a rotating order, each sending
// BATCH sequential GETs (the body read): raw fetch with a precomputed
// Authorization header, the session's fetch, and raw fetch again. The ratio of
// a round is session / raw; raw again / raw is the method's own spread (what
// two identical clients differ by), reported beside it. Then the session alone
// sends CALLS more GETs, and the process's resident set size is taken after
// 1,000 and after all of them. One JSON line on stdout.

const args = globalThis.Deno ? Deno.args : process.argv.slice(2);
const [modulePath, server, roundsText, batchText, callsText] = args;
const rounds = Number(roundsText);
const batch = Number(batchText);
const calls = Number(callsText);
const { AuthSession } = await import(modulePath);

const api = `${server}/v1/echo`;
const session = new AuthSession({ authServer: server, auth: ["bench-client", "bench-secret"] });
const warm = await session.fetch(api);
if (warm.status !== 200) throw new Error(`the session's GET answered ${warm.status}`);
await warm.arrayBuffer();
const authorization = `Bearer ${await session.getAccessToken()}`;
const headers = { authorization };

const clients = {
  raw: async () => {
    const response = await fetch(api, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`raw fetch answered ${response.status}`);
  },
  session: async () => {
    const response = await session.fetch(api);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`the session answered ${response.status}`);
  },
};
const order = [["raw", clients.raw], ["session", clients.session], ["again", clients.raw]];
// Warm each path up: connection pools, JIT.
for (let i = 0; i < 200; i++) for (const [, run] of order) await run();

const perCall = { raw: [], session: [], again: [] };
for (let round = 0; round < rounds; round++) {
  for (let turn = 0; turn < order.length; turn++) {
    const [name, run] = order[(turn + round) % order.length];
    const started = performance.now();
    for (let i = 0; i < batch; i++) await run();
    perCall[name].push(((performance.now() - started) * 1000) / batch);
  }
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => {
    const i = (sorted.length - 1) * q;
    const low = Math.floor(i);
    const high = Math.ceil(i);
    return sorted[low] + (sorted[high] - sorted[low]) * (i - low);
  };
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), min: sorted[0], n: sorted.length };
}

function rss() {
  if (globalThis.Deno) return Deno.memoryUsage().rss;
  return process.memoryUsage().rss;
}

function collect() {
  if (typeof globalThis.gc === "function") globalThis.gc();
  else if (globalThis.Bun) Bun.gc(true);
}

let sent = 0;
let rssAfterFirst = 0;
while (sent < calls) {
  await clients.session();
  sent++;
  if (sent === 1000) {
    collect();
    rssAfterFirst = rss();
  }
}
collect();
const rssAfterAll = rss();

console.log(JSON.stringify({
  rounds,
  batch,
  raw: stats(perCall.raw),
  session: stats(perCall.session),
  again: stats(perCall.again),
  ratio: stats(perCall.session.map((value, i) => value / perCall.raw[i])),
  methodSpread: stats(perCall.again.map((value, i) => value / perCall.raw[i])),
  memory: { calls, rssAfter1000: rssAfterFirst, rssAfterAll },
}));
