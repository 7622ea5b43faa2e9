/**
 * Real components for the proxy and private-CA tests: a test CA and a
 * server certificate made with openssl at test time, and a forwarding squid
 * proxy on 127.0.0.1 whose own hosts file maps test names to 127.0.0.1.
 * squid and openssl come from Debian's packages (the test command installs
 * squid when missing: scripts/install_packages.sh).
 */

import { spawn, spawnSync } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";

/** Where Debian installs squid. */
export const SQUID = "/usr/sbin/squid";

/** Why the proxy tests cannot run here, or `undefined` when they can. */
export function proxyTestsUnavailable(): string | undefined {
  if (spawnSync(SQUID, ["-v"]).status !== 0) {
    return "squid is not installed (the test command installs it: scripts/install_packages.sh squid)";
  }
  if (spawnSync("openssl", ["version"]).status !== 0) return "openssl is not installed";
  return undefined;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

/** A test CA and a certificate for `names` (DNS names and IP addresses) signed by it. */
export interface TestCertificates {
  /** The CA certificate's file (PEM), for NODE_EXTRA_CA_CERTS or DENO_CERT. */
  caFile: string;
  /** The server's key and certificate (PEM). */
  key: string;
  cert: string;
}

/** Makes a CA and a server certificate in `dir` with openssl. */
export async function makeCertificates(
  dir: string,
  names: readonly string[],
): Promise<TestCertificates> {
  const san = names.map((name) => /^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`).join(",");
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=kognic-auth test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    `/CN=${names[0]}`,
  ], dir);
  await writeFile(
    join(dir, "server.ext"),
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ], dir);
  return {
    caFile: join(dir, "ca.pem"),
    key: await readFile(join(dir, "server.key"), "utf8"),
    cert: await readFile(join(dir, "server.pem"), "utf8"),
  };
}

/** A running squid. */
export interface Squid {
  /** The open proxy: `http://127.0.0.1:PORT`. */
  url: string;
  /** The proxy that asks for `user`/`password` (basic auth): `http://127.0.0.1:PORT`. */
  authUrl: string;
  user: string;
  password: string;
  /** The lines of squid's access log so far. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`squid did not listen on 127.0.0.1:${port} in time`);
}

/**
 * Starts squid in `dir` on two ports of 127.0.0.1: one open, one that asks
 * for basic credentials. `hosts` maps names to addresses for squid alone.
 */
export async function startSquid(dir: string, hosts: Record<string, string>): Promise<Squid> {
  const [open, authed] = [await freePort(), await freePort()];
  const user = "proxyuser";
  const password = "pr0xy-Pa55w0rd-never-print";
  const hash = spawnSync("openssl", ["passwd", "-apr1", password], { encoding: "utf8" });
  if (hash.status !== 0) throw new Error(`openssl passwd failed: ${hash.stderr}`);
  await writeFile(join(dir, "passwd"), `${user}:${hash.stdout.trim()}\n`);
  await writeFile(
    join(dir, "hosts"),
    Object.entries(hosts).map(([name, address]) => `${address} ${name}\n`).join(""),
  );
  const config = [
    `http_port 127.0.0.1:${open} name=open`,
    `http_port 127.0.0.1:${authed} name=authed`,
    `hosts_file ${join(dir, "hosts")}`,
    `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${join(dir, "passwd")}`,
    "auth_param basic realm kognic-auth-test",
    "acl authport myportname authed",
    "acl openport myportname open",
    "acl login proxy_auth REQUIRED",
    "acl CONNECT method CONNECT",
    "http_access allow openport localhost",
    "http_access allow authport localhost login",
    "http_access deny all",
    "cache deny all",
    "cache_mem 8 MB",
    `access_log stdio:${join(dir, "access.log")}`,
    `cache_log ${join(dir, "cache.log")}`,
    `pid_filename ${join(dir, "squid.pid")}`,
    `coredump_dir ${dir}`,
    "shutdown_lifetime 0 seconds",
    "dns_nameservers 127.0.0.1",
    "",
  ].join("\n");
  const conf = join(dir, "squid.conf");
  await writeFile(conf, config);
  // squid drops root for its own user, which must be able to write here.
  await chmod(dir, 0o777);
  for (const file of ["passwd", "hosts", "squid.conf"]) await chmod(join(dir, file), 0o644);
  const child = spawn(SQUID, ["-N", "-f", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await Promise.race([
      (async () => {
        await waitForPort(open, Date.now() + 60_000);
        await waitForPort(authed, Date.now() + 60_000);
      })(),
      exited.then(() => {
        throw new Error(`squid exited: ${stderr}`);
      }),
    ]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    url: `http://127.0.0.1:${open}`,
    authUrl: `http://127.0.0.1:${authed}`,
    user,
    password,
    async accessLog(): Promise<string[]> {
      const text = await readFile(join(dir, "access.log"), "utf8").catch(() => "");
      return text.split("\n").filter((line) => line.trim() !== "");
    },
    async stop(): Promise<void> {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
