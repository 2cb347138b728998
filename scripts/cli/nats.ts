import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../../services/config/config.js";
import { canConnect, natsServerBinary } from "../nats-server.js";
import { alive, configOrExit, runningPid, sleep, spawnDetached, waitForExit } from "./daemon.js";

/** Where `nats up` keeps the local server: store, pid file and log, all under `<dataDir>/nats`. */
export function localNatsFiles(config: Config): { storeDir: string; pidFile: string; logFile: string } {
  const storeDir = resolve(join(config.dataDir, "nats"));
  return { storeDir, pidFile: join(storeDir, "nats-server.pid"), logFile: join(storeDir, "nats-server.log") };
}

/** The pid of a `nats up` server still running on this data dir, if any (a stale pid file is ignored). */
export function runningLocalNats(config: Config): number | undefined {
  return runningPid(localNatsFiles(config).pidFile);
}


/**
 * `grant-ledger nats up`: starts the local JetStream server `npm start` uses (127.0.0.1:GL_NATS_PORT,
 * store in `<dataDir>/nats`) in the background, with its pid in `<dataDir>/nats/nats-server.pid`,
 * and waits until it is ready. Exit 0 when it runs (started now or already), 1 when it failed to
 * start (its log says why), 2 on bad configuration.
 */
export async function natsUp(args: string[]): Promise<number> {
  const config = configOrExit(args);
  if (typeof config === "number") return config;
  const { storeDir, pidFile, logFile } = localNatsFiles(config);
  const url = `nats://127.0.0.1:${config.natsPort}`;
  const running = runningLocalNats(config);
  if (running !== undefined) {
    process.stdout.write(`nats-server already running (pid ${running}) at ${url}, store ${storeDir}\n`);
    return 0;
  }
  if (await canConnect(config.natsPort)) {
    process.stderr.write(`port ${config.natsPort} is taken by another process: set GL_NATS_PORT, or NATS_URL to use that server\n`);
    return 1;
  }
  mkdirSync(storeDir, { recursive: true });
  const binary = await natsServerBinary();
  const pid = spawnDetached(binary, ["-js", "-a", "127.0.0.1", "-p", String(config.natsPort), "-sd", storeDir], logFile, pidFile);
  if (pid === undefined) {
    process.stderr.write(`could not start ${binary}\n`);
    return 1;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    // "Server is ready" is logged after JetStream recovered its store.
    if (!alive(pid)) {
      rmSync(pidFile, { force: true });
      process.stderr.write(`nats-server exited at start; see ${logFile}\n`);
      return 1;
    }
    if (log.includes("Server is ready") && (await canConnect(config.natsPort))) break;
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL");
      rmSync(pidFile, { force: true });
      process.stderr.write(`nats-server not ready within 30 s; see ${logFile}\n`);
      return 1;
    }
    await sleep(50);
  }
  process.stdout.write(`nats-server running (pid ${pid}) at ${url}, store ${storeDir}, log ${logFile}\n`);
  return 0;
}

/**
 * `grant-ledger nats down`: stops the server `nats up` started on this data dir (SIGTERM: JetStream
 * flushes its store), waits for it to exit and removes the pid file. Exit 0 when it is down (stopped
 * now or was not running), 1 when it would not stop within 15 s, 2 on bad configuration.
 */
export async function natsDown(args: string[]): Promise<number> {
  const config = configOrExit(args);
  if (typeof config === "number") return config;
  const { pidFile } = localNatsFiles(config);
  const pid = runningLocalNats(config);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    process.stdout.write("nats-server is not running\n");
    return 0;
  }
  process.kill(pid, "SIGTERM");
  if (!(await waitForExit(pid, 15_000))) {
    process.stderr.write(`nats-server (pid ${pid}) did not stop within 15 s\n`);
    return 1;
  }
  rmSync(pidFile, { force: true });
  process.stdout.write(`nats-server (pid ${pid}) stopped\n`);
  return 0;
}
