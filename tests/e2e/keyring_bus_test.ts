// The D-Bus question the token cache's auto mode asks before it loads the
// native keyring library: does the session bus have a Secret Service, or can
// it start one? Against real buses: the one scripts/with_keyring.sh starts
// (gnome-keyring on it) and a private one that knows no services.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { secretServiceOnBus } from "../../src/credentials/dbus.ts";
import { keyringProblem } from "../../src/credentials/keyring_binding.ts";
import { record, tempDir } from "../_helpers/mod.ts";
import { bareBusConfig } from "../_helpers/dbus.ts";

const REAL_KEYRING = process.env.KOGNIC_TEST_KEYRING === "1";
const NEEDS_BUS = REAL_KEYRING
  ? undefined
  : "needs dbus-daemon and a Secret Service: run under scripts/with_keyring.sh";

let dir: { path: string; cleanup: () => Promise<void> };
let bare: { address: string; socket: string; stop: () => void } | undefined;

/** Starts a private session bus without service folders: nothing can be started on it. */
async function startBareBus(
  path: string,
): Promise<{ address: string; socket: string; stop: () => void }> {
  const config = join(path, "bare.conf");
  await writeFile(
    config,
    bareBusConfig(path),
  );
  const child = spawn("dbus-daemon", [`--config-file=${config}`, "--nofork", "--print-address=1"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  const socket = /path=([^,;]+)/.exec(address)?.[1];
  assert.ok(socket, `a unix path in ${address}`);
  return { address, socket, stop: () => child.kill("SIGTERM") };
}

before(async () => {
  dir = await tempDir();
  if (!NEEDS_BUS) bare = await startBareBus(dir.path);
});

after(async () => {
  bare?.stop();
  await dir.cleanup();
});

/** The bound on each bus question: generous, as a busy machine's bus may answer slowly. */
const BUS_WAIT = 30_000;

describe("secretServiceOnBus()", () => {
  it("says absent on a bus where nothing owns or can start org.freedesktop.secrets", {
    skip: NEEDS_BUS,
  }, async () => {
    assert.equal(await secretServiceOnBus(bare!.socket, BUS_WAIT), "absent");
  });

  it("says present on the session bus with gnome-keyring", { skip: NEEDS_BUS }, async () => {
    const address = process.env.DBUS_SESSION_BUS_ADDRESS ?? "";
    const socket = /path=([^,;]+)/.exec(address)?.[1];
    assert.ok(socket, `a unix path in ${address}`);
    assert.equal(await secretServiceOnBus(socket, BUS_WAIT), "present");
  });

  it("says unknown for a socket that is no bus, and why it heard nothing where there is none", async () => {
    assert.equal(await secretServiceOnBus(join(dir.path, "nothing-here"), BUS_WAIT), "ENOENT");
    const { createServer } = await import("node:net");
    const path = join(dir.path, "not-a-bus");
    const server = createServer((socket) => {
      socket.on("data", () => socket.end("REJECTED EXTERNAL\r\n"));
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      assert.equal(await secretServiceOnBus(path, BUS_WAIT), "unknown");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("lets the keyring check name the missing Secret Service on a bare bus", {
    skip: NEEDS_BUS,
  }, async () => {
    const saved = process.env.DBUS_SESSION_BUS_ADDRESS;
    process.env.DBUS_SESSION_BUS_ADDRESS = bare!.address;
    try {
      const problem = await keyringProblem(2000);
      record(String(problem));
      assert.match(String(problem), /^no Secret Service on the D-Bus session bus/);
    } finally {
      process.env.DBUS_SESSION_BUS_ADDRESS = saved;
    }
  });
});
