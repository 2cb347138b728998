import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import type { Config } from "../config/config.js";
import { startLedgerNode, type LedgerNode } from "./ledger.js";

/** The environment variable telling a worker its slot (1..N): its log name and metrics port offset. */
const SLOT_ENV = "GL_HTTP_WORKER_SLOT";

/** What a worker tells its primary once its HTTP port listens. */
interface Listening {
  readonly type: "gl-http-listening";
  readonly port: number;
}

const isListening = (message: unknown): message is Listening =>
  typeof message === "object" && message !== null && (message as { type?: unknown }).type === "gl-http-listening";

/** The HTTP workers of a primary process (GL_HTTP_WORKERS > 1). */
export interface HttpWorkers {
  /** The port they share. */
  readonly port: number;
  /** Pids of the workers running now (a replaced worker's successor included). */
  pids(): number[];
  /** SIGTERM to every worker (each stops like a `serve` process), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface HttpWorkersOptions {
  readonly count: number;
  /** Added to each worker's environment (NATS_URL: the server the primary resolved). */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  /** Delay before a worker that died is replaced; default 1 s (a crash loop must not spin). */
  readonly respawnDelayMs?: number;
}

/**
 * Forks `count` node:cluster workers running `serve` again (same script, flags and environment), each
 * becoming an `http`-only node ({@link runHttpWorker}). node:cluster shares the HTTP port: the primary
 * accepts connections and hands them to the workers in turn (SCHED_RR, set explicitly: left to the
 * kernel, Linux tends to wake the same process for most accepts). Resolves once every worker
 * listens; a worker that exits before that fails the start. A worker that dies later is logged and
 * replaced; the others keep serving meanwhile.
 */
export async function startHttpWorkers(options: HttpWorkersOptions): Promise<HttpWorkers> {
  const { count, env, logger } = options;
  const respawnDelayMs = options.respawnDelayMs ?? 1000;
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const running = new Set<Worker>();
  let stopping = false;

  // A replacement takes the dead worker's slot: the same log name and metrics port. One that dies
  // before listening is retried, a second apart, until one listens or the primary stops.
  const replace = (slot: number): void => {
    // Not unref'd: with the http role alone, a pending replacement may be all that keeps the primary up.
    setTimeout(() => {
      if (stopping) return;
      fork(slot).catch((error: unknown) => {
        logger.error({ err: error, httpWorker: slot }, "HTTP worker could not be replaced; trying again");
        replace(slot);
      });
    }, respawnDelayMs);
  };

  const fork = (slot: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ ...env, [SLOT_ENV]: String(slot) });
      running.add(worker);
      let listening = false;
      worker.on("message", (message: unknown) => {
        if (!isListening(message)) return;
        listening = true;
        resolve(message.port);
      });
      worker.once("exit", (code, signal) => {
        running.delete(worker);
        if (!listening) {
          reject(new Error(`HTTP worker ${slot} exited (${signal ?? code}) before listening`));
          return;
        }
        if (stopping) return;
        logger.error({ httpWorker: slot, pid: worker.process.pid, code, signal }, "HTTP worker died; replacing it");
        replace(slot);
      });
    });

  const stop = async (graceMs = 10_000): Promise<void> => {
    stopping = true;
    await Promise.all(
      [...running].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) {
              resolve();
              return;
            }
            const timer = setTimeout(() => worker.process.kill("SIGKILL"), graceMs);
            worker.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            worker.process.kill("SIGTERM");
          }),
      ),
    );
  };

  let port: number;
  try {
    // Every worker listens on the port the first one got (node:cluster shares one handle per address).
    port = (await Promise.all(Array.from({ length: count }, (_, i) => fork(i + 1))))[0] ?? 0;
  } catch (error) {
    await stop(2000);
    throw error;
  }
  logger.info({ workers: count, port, pids: [...running].map((w) => w.process.pid) }, "http workers serving");
  return {
    port,
    pids: () => [...running].flatMap((w) => (w.process.pid === undefined ? [] : [w.process.pid])),
    stop,
  };
}

/**
 * The node a worker runs: the `http` role only, reading the projector's file in the shared data dir
 * (as any `--roles http` process does), no gRPC port (the primary's carries health), its own metrics
 * on GL_METRICS_PORT + its slot (its HTTP series live in this process). What each worker holds for
 * itself: its staleness guard (it reads the log's head and fails closed on its own), its per-caller
 * rate-limit buckets and failed-secret budgets, its verified-secret memo.
 */
export async function runHttpWorker(config: Config, natsUrl: string, logger: Logger): Promise<LedgerNode> {
  const slot = Number(process.env[SLOT_ENV]);
  if (!Number.isInteger(slot) || slot < 1 || slot > config.httpWorkers) throw new Error(`${SLOT_ENV} must be 1..${config.httpWorkers}, not ${process.env[SLOT_ENV]}`);
  const metricsPort = config.metricsPort === 0 ? 0 : config.metricsPort + slot;
  const node = await startLedgerNode(
    { ...config, roles: ["http"], metricsPort, httpWorkers: 1 },
    natsUrl,
    logger.child({ httpWorker: slot, pid: process.pid }),
    { grpc: false },
  );
  if (node.http === undefined) {
    await node.stop();
    throw new Error("an HTTP worker without its HTTP port");
  }
  const listening: Listening = { type: "gl-http-listening", port: node.http.port };
  process.send?.(listening);
  return node;
}
