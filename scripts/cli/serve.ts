import cluster from "node:cluster";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, type ConfigInput } from "../../services/config/config.js";
import { createLogger } from "../../services/app/logger.js";
import { runHttpWorker, startHttpWorkers, type HttpWorkers } from "../../services/app/http-workers.js";
import { startLedgerNode, type LedgerNode } from "../../services/app/ledger.js";
import { assertServingMode } from "../../services/app/security.js";
import { startNatsServer, type NatsServer } from "../nats-server.js";
import { runningLocalNats } from "./nats.js";

/**
 * `grant-ledger serve [--roles commands,introspection,projector,checkpointer]`: the given roles
 * (default all, or GL_ROLES) in one process; without NATS_URL, a local nats-server too. With
 * `--http-workers N` (N > 1) the http role runs in N node:cluster workers sharing its port, and
 * this process runs the other roles and supervises them.
 */
export async function serve(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        "grpc-host": { type: "string" },
        "grpc-port": { type: "string" },
        "data-dir": { type: "string" },
        roles: { type: "string" },
        "metrics-port": { type: "string" },
        "http-host": { type: "string" },
        "http-port": { type: "string" },
        "http-workers": { type: "string" },
        "insecure-dev": { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const { values } = parsed;
  const overrides: ConfigInput = {};
  if (values["grpc-host"] !== undefined) overrides.grpcHost = values["grpc-host"];
  if (values["grpc-port"] !== undefined) overrides.grpcPort = Number(values["grpc-port"]);
  if (values["data-dir"] !== undefined) overrides.dataDir = values["data-dir"];
  if (values.roles !== undefined) overrides.roles = values.roles;
  if (values["metrics-port"] !== undefined) overrides.metricsPort = values["metrics-port"];
  if (values["http-host"] !== undefined) overrides.httpHost = values["http-host"];
  if (values["http-port"] !== undefined) overrides.httpPort = values["http-port"];
  if (values["http-workers"] !== undefined) overrides.httpWorkers = values["http-workers"];
  if (values["insecure-dev"] === true) overrides.insecureDev = true;
  let config;
  try {
    // Flags win over the environment (and are validated like it).
    config = loadConfig(process.env, overrides, { flagsWin: true });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  try {
    // Before starting nats-server: no plaintext unauthenticated port without --insecure-dev.
    if (config.roles.some((role) => role !== "checkpointer")) assertServingMode(config);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel);
  // Installed once serving: a signal during start-up keeps its default (the process ends at once).
  const stopSignal = (): Promise<void> =>
    new Promise<void>((resolveStop) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolveStop());
    });
  if (cluster.isWorker) {
    // Forked by a primary below (GL_HTTP_WORKERS > 1), with the NATS_URL it resolved.
    if (config.natsUrl === undefined) throw new Error("an HTTP worker needs NATS_URL from its primary");
    const node = await runHttpWorker(config, config.natsUrl, logger);
    await stopSignal();
    await node.stop();
    return 0;
  }
  let nats: NatsServer | undefined;
  // A server from `grant-ledger nats up` on this data dir is the local one: use it, do not start another.
  if (config.natsUrl === undefined && runningLocalNats(config) !== undefined) {
    config = { ...config, natsUrl: `nats://127.0.0.1:${config.natsPort}` };
  }
  if (config.natsUrl === undefined) {
    nats = await startNatsServer({ port: config.natsPort, storeDir: resolve(join(config.dataDir, "nats")), startTimeoutMs: 30_000, killOnSignal: false });
    logger.info({ url: nats.url, storeDir: nats.storeDir }, "local nats-server started");
  }
  const natsUrl = config.natsUrl ?? (nats as NatsServer).url;
  // With HTTP workers this process runs every other role (the projector first: workers read its file).
  const workers = config.httpWorkers > 1;
  const roles = workers ? config.roles.filter((role) => role !== "http") : config.roles;
  let ledger: LedgerNode | undefined;
  let httpWorkers: HttpWorkers | undefined;
  try {
    ledger = roles.length === 0 ? undefined : await startLedgerNode({ ...config, roles }, natsUrl, logger);
    if (workers) httpWorkers = await startHttpWorkers({ count: config.httpWorkers, env: { NATS_URL: natsUrl }, logger });
    await stopSignal();
    logger.info("stopping");
  } finally {
    await httpWorkers?.stop();
    await ledger?.stop();
    await nats?.stop();
  }
  return 0;
}
