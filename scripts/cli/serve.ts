import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, type ConfigInput } from "../../services/config/config.js";
import { createLogger } from "../../services/app/logger.js";
import { startLedgerNode } from "../../services/app/ledger.js";
import { assertServingMode } from "../../services/app/security.js";
import { startNatsServer, type NatsServer } from "../nats-server.js";
import { runningLocalNats } from "./nats.js";

/**
 * `grant-ledger serve [--roles commands,introspection,projector,checkpointer]`: the given roles
 * (default all, or GL_ROLES) in one process; without NATS_URL, a local nats-server too.
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
  let nats: NatsServer | undefined;
  // A server from `grant-ledger nats up` on this data dir is the local one: use it, do not start another.
  if (config.natsUrl === undefined && runningLocalNats(config) !== undefined) {
    config = { ...config, natsUrl: `nats://127.0.0.1:${config.natsPort}` };
  }
  if (config.natsUrl === undefined) {
    nats = await startNatsServer({ port: config.natsPort, storeDir: resolve(join(config.dataDir, "nats")), startTimeoutMs: 30_000, killOnSignal: false });
    logger.info({ url: nats.url, storeDir: nats.storeDir }, "local nats-server started");
  }
  const ledger = await startLedgerNode(config, config.natsUrl ?? (nats as NatsServer).url, logger);
  await new Promise<void>((resolveStop) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolveStop());
  });
  logger.info("stopping");
  await ledger.stop();
  await nats?.stop();
  return 0;
}
