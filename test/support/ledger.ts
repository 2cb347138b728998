import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { loadConfig, type Config, type ConfigInput } from "../../services/config/config.js";
import { createLogger } from "../../services/app/logger.js";
import { startLedger, type Ledger, type LedgerNodeOptions } from "../../services/app/ledger.js";
import { stablePort } from "./nats-server.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Every log line the ledger wrote, kept for assertions (e.g. that no secret was logged). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) if (line !== "") this.lines.push(line);
    done();
  }
}

export interface TestLedger {
  readonly ledger: Ledger;
  readonly address: string;
  readonly config: Config;
  readonly logs: LogCapture;
  readonly dataDir: string;
  /** Stops the ledger and removes its data dir (unless it was given). */
  stop(): Promise<void>;
}

/** A ledger in this process on a free port, with a temp data dir, against `natsUrl`. */
export async function startTestLedger(natsUrl: string, overrides: ConfigInput = {}, options: LedgerNodeOptions = {}): Promise<TestLedger> {
  const ownDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), "gl-ledger-")));
  const config = loadConfig({}, {
    grpcPort: 0,
    // Many ledgers run at once in a test run: no fixed metrics port unless a test asks for one.
    metricsPort: 0,
    scopeCatalogFile: join(repoRoot, "config/scopes.json"),
    logLevel: "info",
    // Plaintext on loopback with x-actor, as before callers were authenticated; a test that passes
    // TLS files gets the authenticated server.
    insecureDev: overrides.tlsCertFile === undefined,
    ...overrides,
    dataDir,
  });
  const logs = new LogCapture();
  const ledger = await startLedger(config, natsUrl, createLogger(config.logLevel, logs), options);
  return {
    ledger,
    address: `127.0.0.1:${ledger.grpcPort}`,
    config,
    logs,
    dataDir,
    async stop() {
      await ledger.stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A ledger in its own OS process (`grant-ledger serve`), for tests that kill -9 it. */
export interface LedgerProcess {
  readonly address: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Node arguments that run the CLI from the sources (tsx), as the tests do. */
export const SOURCE_CLI: readonly string[] = ["--import", "tsx", join(repoRoot, "scripts/cli.ts")];
/** Node arguments that run the CLI as `npm start` does: the build of scripts/build.sh. */
export const BUILT_CLI: readonly string[] = [join(repoRoot, "dist/scripts/cli.js")];

/** `port`: listen there (a restart on the address clients already use); default a free one. */
export async function spawnLedgerProcess(
  natsUrl: string,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
  port?: number,
  cli: readonly string[] = SOURCE_CLI,
): Promise<LedgerProcess> {
  // Stable: fault tests kill the process and restart it on the same address.
  port ??= await stablePort();
  const child = spawn(process.execPath, [...cli, "serve"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      GL_GRPC_PORT: String(port),
      GL_DATA_DIR: dataDir,
      GL_SCOPE_CATALOG: join(repoRoot, "config/scopes.json"),
      GL_METRICS_PORT: "0",
      GL_INSECURE_DEV: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  process.once("exit", () => child.kill("SIGKILL"));
  // Generous: a restart under a loaded CI machine compiles the sources (tsx) and catches up first.
  const deadline = Date.now() + 60_000;
  while (!output.includes("grant ledger serving")) {
    if (child.exitCode !== null) throw new Error(`ledger exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`ledger did not start within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    address: `127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    kill: async (signal = "SIGKILL") => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
  };
}
