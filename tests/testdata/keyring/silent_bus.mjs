// A Unix socket that accepts connections and never answers, like a frozen
// D-Bus session bus: `<runtime> silent_bus.mjs SOCKET_PATH`. Prints
// "listening" once it listens, and exits when its standard input closes, so
// it never outlives the test that started it. It runs in its own process
// because Deno's test run may not listen on Unix sockets (that needs a net
// permission for the socket).

import { createServer } from "node:net";
import process from "node:process";

const path = process.argv[2];
const server = createServer((socket) => {
  socket.on("data", () => {});
  socket.on("error", () => {});
});
server.listen(path, () => process.stdout.write("listening\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
