import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../../services/config/config.js";
import { formCluster, planCluster, writeClusterConfigs, type ClusterNodePlan } from "../nats-cluster.js";
import { canConnect, natsServerBinary } from "../nats-server.js";
import { configOrExit, runningPid as pidIn, spawnDetached, waitForExit } from "./daemon.js";

const SIZE = 3;

/** `<dataDir>/nats-cluster`: one dir per node (store, config, pid file, log) and `cluster.json` (ports). */
const clusterDir = (config: Config): string => resolve(join(config.dataDir, "nats-cluster"));

const nodeFiles = (node: ClusterNodePlan): { pidFile: string; logFile: string } => {
  const dir = resolve(node.configFile, "..");
  return { pidFile: join(dir, "nats-server.pid"), logFile: join(dir, "nats-server.log") };
};

const runningPid = (node: ClusterNodePlan): number | undefined => pidIn(nodeFiles(node).pidFile);

/** The cluster's plan: the ports of an earlier `up` (kept in cluster.json, so stores and routes agree), else free ones. */
async function loadPlan(dir: string): Promise<ClusterNodePlan[]> {
  const stateFile = join(dir, "cluster.json");
  let ports: { port: number; clusterPort: number }[] | undefined;
  if (existsSync(stateFile)) {
    ports = (JSON.parse(readFileSync(stateFile, "utf8")) as { nodes: { port: number; clusterPort: number }[] }).nodes;
  }
  const plan = await planCluster(dir, SIZE, ports);
  if (ports === undefined) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(stateFile, `${JSON.stringify({ nodes: plan.map(({ name, port, clusterPort }) => ({ name, port, clusterPort })) }, null, 2)}\n`);
  }
  return plan;
}

const urlsOf = (plan: readonly ClusterNodePlan[]): string[] => plan.map((n) => `nats://127.0.0.1:${n.port}`);

/**
 * `grant-ledger nats cluster up`: starts a 3-node JetStream cluster in the background (127.0.0.1,
 * under `<dataDir>/nats-cluster`, a pid file per node), waits until it has a JetStream meta leader
 * with every peer, and prints the NATS_URL to use. Exit 0 when it runs, 1 when it failed, 2 on bad
 * configuration.
 */
export async function natsClusterUp(args: string[]): Promise<number> {
  const config = configOrExit(args);
  if (typeof config === "number") return config;
  const dir = clusterDir(config);
  const plan = await loadPlan(dir);
  await writeClusterConfigs(plan);
  const binary = await natsServerBinary();
  const startNodes = async (): Promise<string | undefined> => {
    for (const node of plan) {
      if (runningPid(node) !== undefined) continue;
      for (const port of [node.port, node.clusterPort]) {
        if (await canConnect(port)) return `port ${port} of ${node.name} is taken by another process; remove ${join(dir, "cluster.json")} to pick new ports`;
      }
      const { pidFile, logFile } = nodeFiles(node);
      if (spawnDetached(binary, ["-js", "-c", node.configFile], logFile, pidFile) === undefined) return `could not start ${binary}`;
    }
    return undefined;
  };
  const problem = await startNodes();
  if (problem !== undefined) {
    process.stderr.write(`${problem}\n`);
    return 1;
  }
  const restartNodes = async (): Promise<void> => {
    for (const node of plan) {
      const pid = runningPid(node);
      if (pid === undefined) continue;
      process.kill(pid, "SIGTERM");
      await waitForExit(pid, 15_000);
    }
    const again = await startNodes();
    if (again !== undefined) throw new Error(again);
  };
  try {
    await formCluster(urlsOf(plan), SIZE, 45_000, restartNodes);
  } catch (error) {
    const dead = plan.filter((n) => runningPid(n) === undefined).map((n) => `${n.name} (see ${nodeFiles(n).logFile})`);
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}${dead.length > 0 ? `; not running: ${dead.join(", ")}` : ""}\n`);
    return 1;
  }
  for (const node of plan) {
    process.stdout.write(`${node.name}: pid ${runningPid(node) ?? "?"}, client 127.0.0.1:${node.port}, route 127.0.0.1:${node.clusterPort}, store ${node.storeDir}\n`);
  }
  process.stdout.write(`cluster ready; use:\nexport NATS_URL=${urlsOf(plan).join(",")} GL_STREAM_REPLICAS=${SIZE}\n`);
  return 0;
}

/**
 * `grant-ledger nats cluster down`: SIGTERM to every node `nats cluster up` started on this data dir,
 * waits for them to exit and removes the pid files (stores and ports are kept for the next `up`).
 * Exit 0 when all are down, 1 when one would not stop within 15 s, 2 on bad configuration.
 */
export async function natsClusterDown(args: string[]): Promise<number> {
  const config = configOrExit(args);
  if (typeof config === "number") return config;
  const dir = clusterDir(config);
  if (!existsSync(join(dir, "cluster.json"))) {
    process.stdout.write("nats cluster is not running\n");
    return 0;
  }
  const plan = await loadPlan(dir);
  const pids = plan.map((node) => ({ node, pid: runningPid(node) }));
  for (const { pid } of pids) if (pid !== undefined) process.kill(pid, "SIGTERM");
  let code = 0;
  for (const { node, pid } of pids) {
    if (pid !== undefined && !(await waitForExit(pid, 15_000))) {
      process.stderr.write(`${node.name} (pid ${pid}) did not stop within 15 s\n`);
      code = 1;
      continue;
    }
    rmSync(nodeFiles(node).pidFile, { force: true });
    process.stdout.write(pid === undefined ? `${node.name} was not running\n` : `${node.name} (pid ${pid}) stopped\n`);
  }
  return code;
}

/** `grant-ledger nats cluster up|down` (the CLI's table dispatches two words; this takes the third). */
export async function natsCluster(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === "up") return natsClusterUp(rest);
  if (action === "down") return natsClusterDown(rest);
  process.stderr.write(`usage: grant-ledger nats cluster up|down\n`);
  return 2;
}
