import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsCluster, type NatsClusterNode } from "../../scripts/nats-cluster.js";
import { streamInfo } from "../support/cluster.js";
import { auditLog, readWholeLog, say, sharedHashKey, sleep } from "../support/fault-kit.js";
import { stablePort } from "../support/nats-server.js";
import { spawnLedgerProcess, type LedgerProcess } from "../support/ledger.js";
import { checkHistory, type CheckReport } from "./history/checker.js";
import { HistoryWriter, readHistory } from "./history/history.js";
import { readReplica, waitForReplica } from "./history/replica.js";
import type { WorkerConfig } from "./history/worker.js";

const log = say("cluster-faults");
const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** How long the faults run: short in `npm test`; `npm run faults -- --minutes N` sets it (the long mode). */
const SECONDS = Number(process.env["GL_FAULT_SECONDS"] ?? "0");
const WORKERS = Number(process.env["GL_FAULT_WORKERS"] ?? "3");

/** A ledger replica: commands, introspection and its own projector over its own SQLite file. */
interface Replica {
  readonly name: string;
  readonly dataDir: string;
  readonly port: number;
  readonly env: NodeJS.ProcessEnv;
  process: LedgerProcess;
  /** What earlier (killed) processes of this replica printed. */
  readonly outputs: string[];
}

/** Distinct error log lines (pino level ≥ 50) of a replica's processes: the cause of any INTERNAL. */
function errorLines(outputs: readonly string[]): string[] {
  const seen = new Map<string, number>();
  for (const line of outputs.join("\n").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < 50) continue;
      const text = `${entry.msg ?? ""}: ${entry.err?.message ?? ""}`.slice(0, 200);
      seen.set(text, (seen.get(text) ?? 0) + 1);
    } catch {
      // not a log line
    }
  }
  return [...seen].map(([text, n]) => `${n}× ${text}`);
}

async function streamLeader(cluster: NatsCluster, alive: readonly NatsClusterNode[]): Promise<NatsClusterNode> {
  for (let i = 0; i < 100; i++) {
    try {
      const leader = (await streamInfo(alive.map((n) => n.url))).cluster?.leader;
      if (leader !== undefined && leader !== "") return cluster.node(leader);
    } catch {
      // electing: ask again
    }
    await sleep(200);
  }
  throw new Error("LEDGER has no leader");
}

describe("cluster faults: a mixed load from client processes through node, leader, ledger-process kills and a paused node; the history is checked", () => {
  let cluster: NatsCluster | undefined;
  const replicas: Replica[] = [];
  const workers: ChildProcess[] = [];
  let baseDir: string | undefined;
  /** Kept for a reader when a check fails: histories, data dirs. */
  let keep = false;

  afterAll(async () => {
    for (const w of workers) w.kill("SIGKILL");
    for (const r of replicas) await r.process.kill("SIGKILL");
    for (const n of cluster?.nodes ?? []) process.kill(n.pid, "SIGCONT");
    await cluster?.stop();
    if (baseDir !== undefined && !keep) await rm(baseDir, { recursive: true, force: true });
    if (keep) log(`kept ${baseDir} (histories, data dirs) for a look`);
  });

  it("loses no acknowledged command, never shows a revoked token active past min_sequence, and ends with equal replicas", { timeout: 300_000 + SECONDS * 1_000 }, async () => {
    baseDir = await mkdtemp(join(tmpdir(), "gl-cluster-faults-"));
    cluster = await startNatsCluster({ size: 3 });
    const c = cluster;
    log(`3-node cluster formed in ${c.formedInMs} ms`);
    const shared = { GL_STREAM_REPLICAS: "3", GL_TOKEN_HASH_KEY: sharedHashKey(), GL_REQUEST_KEY: `r1:${sharedHashKey()}`, GL_INTROSPECT_RATE: "100000" };
    for (const [name, roles] of [["A", "commands,introspection,projector,checkpointer"], ["B", "commands,introspection,projector"]] as const) {
      const dataDir = join(baseDir, name);
      const port = await stablePort(); // restarted on it after each kill
      const env = { ...shared, GL_ROLES: roles };
      replicas.push({ name, dataDir, port, env, process: await spawnLedgerProcess(c.urls, dataDir, env, port), outputs: [] });
    }
    log(`ledger replicas: ${replicas.map((r) => `${r.name} 127.0.0.1:${r.port}`).join(", ")} (each commands + introspection + its own projector)`);

    const historyFiles: string[] = [];
    const faultsFile = join(baseDir, "faults.jsonl");
    const faults = new HistoryWriter(faultsFile);
    const durationMs = SECONDS > 0 ? SECONDS * 1_000 : 60_000;
    const started = Date.now();
    const exits: Promise<number | null>[] = [];
    for (let w = 0; w < WORKERS; w++) {
      const file = join(baseDir, `worker-${w}.jsonl`);
      historyFiles.push(file);
      const config: WorkerConfig = { worker: w, addresses: replicas.map((r) => `127.0.0.1:${r.port}`), file, durationMs, retryBudgetMs: 20_000 };
      const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test/fault/history/worker.ts"), JSON.stringify(config)], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
      workers.push(child);
      exits.push(new Promise((r) => child.once("exit", (code) => r(code))));
    }
    log(`${WORKERS} client processes running a mixed load for ${durationMs / 1000} s`);

    // The faults, in turn, until the load ends (at least one round).
    const inject = async (fault: string, target: string, act: () => Promise<void>, heal: () => Promise<void>, holdMs: number): Promise<void> => {
      const at = Date.now();
      await act();
      await sleep(holdMs);
      await heal();
      faults.record({ kind: "fault", fault, target, at, healedAt: Date.now() });
      log(`${fault} ${target}: held ${holdMs} ms, healed after ${Date.now() - at} ms`);
      await sleep(3_000);
    };
    const restartReplica = async (r: Replica): Promise<void> => {
      r.outputs.push(r.process.output());
      r.process = await spawnLedgerProcess(c.urls, r.dataDir, r.env, r.port);
    };
    const round = async (): Promise<void> => {
      const leader = await streamLeader(c, c.nodes);
      await inject("kill -9 node (stream leader)", leader.name, () => leader.kill("SIGKILL"), () => leader.restart(), 4_000);
      const now = await streamLeader(c, c.nodes);
      const follower = c.nodes.find((n) => n !== now) as NatsClusterNode;
      await inject("kill -9 node (follower)", follower.name, () => follower.kill("SIGKILL"), () => follower.restart(), 4_000);
      const paused = await streamLeader(c, c.nodes);
      // Longer than the election timeout: the others elect a new leader meanwhile.
      await inject("SIGSTOP node (stream leader)", paused.name, async () => void process.kill(paused.pid, "SIGSTOP"), async () => void process.kill(paused.pid, "SIGCONT"), 6_000);
      for (const r of replicas) {
        // Commands mid-append, its projector mid-batch and an introspection replica, all at once.
        await inject("kill -9 ledger process", r.name, () => r.process.kill("SIGKILL"), () => restartReplica(r), 1_000);
      }
    };
    await sleep(3_000);
    let rounds = 0;
    do {
      await round();
      rounds++;
    } while (Date.now() - started < durationMs - 30_000);
    log("disk full / read-only store: skipped (as root, permissions do not stop writes, and a full disk needs a mount CI cannot make)");

    const codes = await Promise.all(exits);
    expect(codes.every((code) => code === 0), `worker exit codes ${codes.join(",")}`).toBe(true);
    log(`load ended after ${Math.round((Date.now() - started) / 1000)} s, ${rounds} rounds of faults`);

    const audit = await auditLog(c.urls);
    try {
      const envelopes = await readWholeLog(audit);
      const head = envelopes.at(-1)?.seq ?? 0;
      for (const r of replicas) await waitForReplica(r.dataDir, head, 60_000);
      const views = replicas.map((r) => readReplica(r.name, r.dataDir));
      const ops = readHistory([...historyFiles, ...(existsSync(faultsFile) ? [faultsFile] : [])]);
      const report: CheckReport = checkHistory(ops, envelopes, views);
      const injected = ops.filter((o) => o.kind === "fault").length;
      log(`history: ${ops.length} operations, ${injected} faults injected; log ${report.logMessages} messages`);
      log(`commands: ${Object.entries(report.commands).map(([k, v]) => `${k}=${v}`).join(" ")}`);
      const failed = ops.filter((o) => o.kind === "command" && o.outcome !== "ok");
      for (const f of failed.slice(0, 10)) if (f.kind === "command") log(`  ${f.command} ${f.outcome} ${f.code ?? ""}: ${f.detail ?? ""}`);
      for (const r of replicas) for (const line of errorLines([...r.outputs, r.process.output()]).slice(0, 5)) log(`  ledger ${r.name} error log: ${line}`);
      log(`introspections: ${report.introspections}; read-your-writes checks after a revocation: ${report.readYourWritesChecked}`);
      const w = report.revocationWindow;
      log(`revocation → last active=true without min_sequence (ms): n=${w.count} p50=${w.p50} p99=${w.p99} max=${w.max}; unsettled after 5 s: ${report.unsettledWindows}`);
      log(`replicas: ${views.map((v) => `${v.name} seq ${v.checkpoint} digest ${v.digest.slice(0, 16)}`).join(", ")}`);
      log(`violations: ${report.violations.length}${report.violations.length > 0 ? `\n  ${report.violations.slice(0, 20).join("\n  ")}` : ""}`);
      keep = report.violations.length > 0;
      expect(report.violations).toEqual([]);
      expect(injected).toBeGreaterThanOrEqual(5);
      expect(report.commands["IssueTokens:ok"] ?? 0).toBeGreaterThan(10);
      expect(report.commands["RevokeGrant:ok"] ?? 0).toBeGreaterThan(5);
      expect(report.readYourWritesChecked).toBeGreaterThan(5);
    } finally {
      await audit.close();
    }
  });
});
