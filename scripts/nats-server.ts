import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./repo-root.js";


/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Extra command-line arguments, e.g. `["--sync", "always"]`. */
  args?: readonly string[];
  /** Port to listen on (default: a free one). */
  port?: number;
  /** How long to wait for the server to accept connections (default 15 s). */
  startTimeoutMs?: number;
  /** A store dir to keep (default: a fresh temp dir, removed by `stop`). */
  storeDir?: string;
  /**
   * Kill the server at once on SIGINT/SIGTERM (default true, for tests). A service that shuts down
   * gracefully turns this off and stops the server itself; it is still killed on exit.
   */
  killOnSignal?: boolean;
}

/** A nats-server with JetStream, owned by this process (a test, or `npm start`). */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (a fresh temp dir). */
  readonly storeDir: string;
  /** Pid of the current process (changes on restart). */
  readonly pid: number;
  /** The last ~8 kB the current process wrote (stdout and stderr), for diagnostics. */
  readonly output: string;
  /** Stops the server gracefully and removes the store dir when it was a temp one. Idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit; keeps the store dir. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the server if it runs (SIGTERM), then starts it again on the same port and store dir. */
  restart(): Promise<void>;
}

let binaryPath: Promise<string> | undefined;

/** The nats-server binary from scripts/ensure-nats.sh, resolved once per process. */
export function natsServerBinary(): Promise<string> {
  const preset = process.env["NATS_SERVER_BIN"];
  if (preset !== undefined && preset !== "" && binaryPath === undefined) binaryPath = Promise.resolve(preset);
  binaryPath ??= promisify(execFile)("bash", [join(repoRoot, "scripts/ensure-nats.sh")], { cwd: repoRoot }).then(
    ({ stdout }) => stdout.trim(),
  );
  return binaryPath;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
let signalHookInstalled = false;
function installExitHook(onSignal: boolean): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A synchronous kill on exit: a crashed or interrupted run must not leave servers behind.
    process.on("exit", () => {
      for (const child of running) child.kill("SIGKILL");
    });
  }
  if (!onSignal || signalHookInstalled) return;
  signalHookInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of running) child.kill("SIGKILL");
      process.kill(process.pid, signal);
    });
  }
}

/** Lowest port {@link stablePort} draws from: below it sit well-known and registered services. */
const STABLE_PORT_MIN = 10_000;

/** The kernel's range for port-0 binds and outgoing connections' local ports (Linux; else a common default). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // Not Linux: fall through.
  }
  return [32_768, 60_999];
}

const bindable = (port: number): Promise<boolean> =>
  new Promise((resolveBind) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolveBind(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveBind(true)));
  });

/**
 * A free port for a server that is killed and restarted on the same port (cluster nodes, fault
 * tests): drawn below the kernel's ephemeral range, so that while the server is down no port-0
 * bind ({@link freePort}) and no outgoing connection of another process can take it.
 */
export async function stablePort(): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const span = ephemeralLow - STABLE_PORT_MIN;
  if (span < 1000) return freePort();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = STABLE_PORT_MIN + Math.floor(Math.random() * span);
    if (await bindable(port)) return port;
  }
  return freePort();
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolvePort(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolveOk) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolveOk(true);
    });
    socket.once("error", () => resolveOk(false));
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once("exit", () => r()));

/**
 * Starts `nats-server -js` on 127.0.0.1 with a fresh store dir and waits until it accepts
 * connections. Every server started here is killed when this process exits.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  installExitHook(options.killOnSignal ?? true);
  const binary = await natsServerBinary();
  // Stable: a test may kill this server and start it again on the same port.
  const port = options.port ?? (await stablePort());
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "gl-nats-")));
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...(options.args ?? [])];
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  let child: ChildProcess | undefined;
  let stopped = false;
  let output = "";

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    running.add(proc);
    output = "";
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    proc.once("exit", () => running.delete(proc));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`nats-server exited (${proc.exitCode ?? proc.signalCode}) on port ${port}:\n${output}`);
      }
      // "Server is ready" comes after JetStream has recovered its store: connecting earlier may find
      // JetStream not yet enabled.
      if (output.includes("Server is ready") && (await canConnect(port))) return;
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`nats-server did not start on port ${port} within ${timeoutMs} ms:\n${output}`);
      }
      await sleep(25);
    }
  };

  const kill = async (signal: NodeJS.Signals = "SIGKILL"): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited(proc);
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid(): number {
      return child?.pid ?? -1;
    },
    get output(): string {
      return output;
    },
    kill,
    async restart() {
      if (stopped) throw new Error("nats-server was stopped");
      await kill("SIGTERM");
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill("SIGTERM");
      if (ownStore) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
