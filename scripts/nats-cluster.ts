import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { stablePort, startNatsServer, type NatsServer } from "./nats-server.js";

/** One node of a cluster plan: its name, ports and files. */
export interface ClusterNodePlan {
  readonly name: string;
  /** Client port (127.0.0.1). */
  readonly port: number;
  /** Route (cluster) port (127.0.0.1). */
  readonly clusterPort: number;
  readonly storeDir: string;
  readonly configFile: string;
}

/** Cluster name used when none is given. */
export const DEFAULT_CLUSTER_NAME = "grant-ledger";

/** `size` nodes under `baseDir` (`<baseDir>/<name>/{store,nats.conf}`), on the given or free ports. */
export async function planCluster(
  baseDir: string,
  size: number,
  ports?: readonly { port: number; clusterPort: number }[],
): Promise<ClusterNodePlan[]> {
  const nodes: ClusterNodePlan[] = [];
  const taken = new Set<number>();
  // Nodes restart on their ports (stablePort); a port may be drawn twice while nothing listens yet.
  const draw = async (): Promise<number> => {
    for (;;) {
      const port = await stablePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const dir = resolve(join(baseDir, name));
    const given = ports?.[i];
    nodes.push({
      name,
      port: given?.port ?? (await draw()),
      clusterPort: given?.clusterPort ?? (await draw()),
      storeDir: join(dir, "store"),
      configFile: join(dir, "nats.conf"),
    });
  }
  return nodes;
}

/**
 * The nats-server 2.10 config of one node: JetStream on, routes to every other node of the plan.
 * Without `storeDirInFile` the store dir is left to the command line (`-sd`, as {@link startNatsServer}
 * passes it): nats-server rejects it given twice.
 */
export function nodeConfig(
  node: ClusterNodePlan,
  plan: readonly ClusterNodePlan[],
  clusterName = DEFAULT_CLUSTER_NAME,
  storeDirInFile = true,
  syncInterval?: string,
): string {
  const routes = plan.filter((n) => n.name !== node.name).map((n) => `    nats-route://127.0.0.1:${n.clusterPort}`);
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.port}`,
    `jetstream {`,
    ...(storeDirInFile ? [`  store_dir: ${JSON.stringify(node.storeDir)}`] : []),
    ...(syncInterval === undefined ? [] : [`  sync_interval: ${syncInterval}`]),
    `}`,
    `cluster {`,
    `  name: ${clusterName}`,
    `  listen: 127.0.0.1:${node.clusterPort}`,
    `  routes: [`,
    ...routes,
    `  ]`,
    `}`,
    "",
  ].join("\n");
}

/** Writes each node's store dir and config file. */
export async function writeClusterConfigs(
  plan: readonly ClusterNodePlan[],
  clusterName = DEFAULT_CLUSTER_NAME,
  storeDirInFile = true,
  syncInterval?: string,
): Promise<void> {
  for (const node of plan) {
    await mkdir(node.storeDir, { recursive: true });
    await writeFile(node.configFile, nodeConfig(node, plan, clusterName, storeDirInFile, syncInterval));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until JetStream on the cluster has a meta leader that knows `replicas` peers: a throwaway
 * memory stream with that many replicas can be created (account info alone answers before every
 * peer has reported, and a replicas-3 stream then fails with "no suitable peers for placement").
 * Resolves with the time it took; rejects after `timeoutMs`.
 */
export async function waitForMetaLeader(servers: readonly string[], replicas = servers.length, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: [...servers], timeout: 2_000, name: "cluster-probe" });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
        await jsm.getAccountInfo();
        const name = `GL_CLUSTER_PROBE_${process.pid}_${Date.now()}`;
        await jsm.streams.add({ name, subjects: [`_gl_probe.${name}`], storage: StorageType.Memory, num_replicas: replicas });
        await jsm.streams.delete(name);
        return Date.now() - started;
      } finally {
        await nc.close();
      }
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw new Error(`JetStream has no meta leader after ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

/**
 * {@link waitForMetaLeader}, restarting the nodes when the cluster does not form within 10 s: now
 * and then (about 1 in 12 starts here, sequential or not) three fresh nodes elect a meta leader yet
 * never learn of their peers after sorting out duplicate routes, and a stream with replicas 3 fails
 * with "no suitable peers for placement" for good. Restarting the nodes forms it. Up to three tries
 * within `budgetMs`.
 */
export async function formCluster(servers: readonly string[], replicas: number, budgetMs: number, restartNodes: () => Promise<void>): Promise<number> {
  const started = Date.now();
  const deadline = started + budgetMs;
  for (let tryNo = 1; ; tryNo++) {
    const left = deadline - Date.now();
    try {
      await waitForMetaLeader(servers, replicas, tryNo < 3 ? Math.min(left, 10_000) : left);
      return Date.now() - started;
    } catch (error) {
      if (tryNo >= 3 || Date.now() >= deadline) {
        throw new Error(`${error instanceof Error ? error.message : String(error)} (${tryNo} tries in ${Date.now() - started} ms)`, { cause: error });
      }
      await restartNodes();
    }
  }
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** Number of nodes (default 3). */
  size?: number;
  /** Cluster name (default "grant-ledger"). */
  name?: string;
  /** Directory for the nodes' stores and configs to keep (default: a fresh temp dir, removed by `stop`). */
  baseDir?: string;
  /** Extra nats-server arguments for every node, e.g. `["--sync", "always"]`... see nats-server --help. */
  args?: readonly string[];
  /**
   * JetStream `sync_interval`: how often the store is fsynced ("2m", the server's default, when
   * unset; "always" fsyncs every write). See the README's durability notes for the trade-off.
   */
  syncInterval?: string;
  /** How long to wait for a JetStream meta leader, restarts included (default 45 s). */
  readyTimeoutMs?: number;
}

/** One node of a running cluster. */
export interface NatsClusterNode {
  readonly name: string;
  /** `nats://127.0.0.1:<port>` of this node alone. */
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly storeDir: string;
  /** Pid of the current process (changes on restart). */
  readonly pid: number;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit; keeps the store. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again (SIGTERM first if it runs) on the same ports and store. */
  restart(): Promise<void>;
  /** Stops the node gracefully; keeps the store (the cluster's `stop` removes a temp base dir). */
  stop(): Promise<void>;
}

/** A JetStream cluster of real nats-server processes, owned by this process. */
export interface NatsCluster {
  /** Every node's URL, comma-joined (the NATS_URL form). */
  readonly urls: string;
  /** Every node's URL, for clients that take a list. */
  readonly servers: readonly string[];
  readonly nodes: readonly NatsClusterNode[];
  readonly baseDir: string;
  /** Time from the first node's start until JetStream had a meta leader, in ms. */
  readonly formedInMs: number;
  /** The node named `name` (server_name, as stream info's `cluster.leader` reports it). */
  node(name: string): NatsClusterNode;
  /** Stops every node and removes the base dir when it was a temp one. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `size` nats-server processes with JetStream on 127.0.0.1 (distinct client and route ports,
 * one store dir and config file each) routed into one cluster, and waits until JetStream has a meta
 * leader. Built on {@link startNatsServer}: every node is killed when this process exits.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const ownDir = options.baseDir === undefined;
  const baseDir = options.baseDir ?? (await mkdtemp(join(tmpdir(), "gl-nats-cluster-")));
  const plan = await planCluster(baseDir, size);
  await writeClusterConfigs(plan, options.name, false, options.syncInterval);
  const started = Date.now();
  const servers: NatsServer[] = [];
  try {
    // One after the other: fewer simultaneous route dials (see formCluster for what can still go wrong).
    for (const node of plan) {
      servers.push(await startNatsServer({ port: node.port, storeDir: node.storeDir, args: ["-c", node.configFile, ...(options.args ?? [])] }));
    }
    try {
      await formCluster(servers.map((s) => s.url), size, options.readyTimeoutMs ?? 45_000, async () => {
        for (const server of servers) await server.restart();
      });
    } catch (error) {
      const logs = servers.map((s, i) => `--- ${plan[i]?.name ?? i} ---\n${s.output.slice(-3_000)}`).join("\n");
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs}`, { cause: error });
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    if (ownDir) await rm(baseDir, { recursive: true, force: true });
    throw error;
  }
  const formedInMs = Date.now() - started;
  const nodes = plan.map((node, i): NatsClusterNode => {
    const server = servers[i] as NatsServer;
    return {
      name: node.name,
      url: server.url,
      port: node.port,
      clusterPort: node.clusterPort,
      storeDir: node.storeDir,
      get pid() {
        return server.pid;
      },
      kill: (signal) => server.kill(signal),
      restart: () => server.restart(),
      stop: () => server.kill("SIGTERM"),
    };
  });
  let stopped = false;
  return {
    urls: nodes.map((n) => n.url).join(","),
    servers: nodes.map((n) => n.url),
    nodes,
    baseDir,
    formedInMs,
    node(name) {
      const found = nodes.find((n) => n.name === name);
      if (found === undefined) throw new Error(`no node "${name}" (nodes: ${nodes.map((n) => n.name).join(", ")})`);
      return found;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(servers.map((s) => s.stop()));
      if (ownDir) await rm(baseDir, { recursive: true, force: true });
    },
  };
}
