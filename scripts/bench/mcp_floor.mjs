// The MCP benchmark's floor: the least a stdio-to-HTTP MCP forwarder can do.
// Each line from stdin is posted as it is to the URL (no authentication, no
// parsing; the 2025-11-25 headers are fixed, the session id is taken from any
// answer that has one), and the answer is written back: a JSON body as one
// line, an event stream as one line per event's data. Plain JavaScript, so
// that Deno and Node.js run the same file.
//
//   deno run --allow-net=127.0.0.1 scripts/bench/mcp_floor.mjs URL
//   node scripts/bench/mcp_floor.mjs URL

import process from "node:process";

const url = process.argv[2];
let session = "";
let buffer = "";
const decoder = new TextDecoder();

// deno-lint-ignore explicit-function-return-type
function write(text) {
  process.stdout.write(text.includes("\n") ? JSON.stringify(JSON.parse(text)) + "\n" : text + "\n");
}

// deno-lint-ignore explicit-function-return-type
async function forward(line) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
  };
  if (session) headers["mcp-session-id"] = session;
  const response = await fetch(url, { method: "POST", headers, body: line });
  session ||= response.headers.get("mcp-session-id") ?? "";
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    const text = await response.text();
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(l[5] === " " ? 6 : 5));
      if (data.length) write(data.join("\n"));
    }
  } else if (type.includes("json")) {
    write(await response.text());
  } else {
    await response.body?.cancel();
  }
}

process.stdin.on("data", (chunk) => {
  buffer += decoder.decode(chunk, { stream: true });
  let newline;
  while ((newline = buffer.indexOf("\n")) !== -1) {
    const line = buffer.slice(0, newline);
    buffer = buffer.slice(newline + 1);
    if (line.trim()) forward(line).catch((error) => process.stderr.write(`${error}\n`));
  }
});
process.stdin.on("end", () => process.exit(0));
