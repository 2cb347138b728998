import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { ChildMessage, LoadResult, LoadSpec, ParentMessage, RunSpec } from "./loadgen.js";
import { cpuMs, repoRoot } from "./proc.js";

/** One measured run: what the load generator saw, and the CPU each watched server process used in the window. */
export interface MeasuredRun extends LoadResult {
  /** CPU milliseconds per watched process (by label) during the window. */
  readonly cpuMs: Readonly<Record<string, number>>;
  /** CPU microseconds per operation per watched process, and their sum under "server". */
  readonly cpuUsPerOp: Readonly<Record<string, number>>;
  /** CPU microseconds per operation of the load generator itself (client-side cost, not counted as server). */
  readonly loadGeneratorCpuUsPerOp: number;
}

/** A load generator process, kept for every run against one target (its connections stay warm). */
export interface LoadGenerator {
  run(run: RunSpec, watch: Readonly<Record<string, number>>): Promise<MeasuredRun>;
  close(): Promise<void>;
}

export async function startLoadGenerator(spec: LoadSpec): Promise<LoadGenerator> {
  const child: ChildProcess = fork(join(repoRoot, "scripts/bench/lib/loadgen.ts"), [], {
    cwd: repoRoot,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let listener: ((m: ChildMessage) => void) | undefined;
  let exitError: Error | undefined;
  child.on("message", (m: ChildMessage) => listener?.(m));
  child.once("exit", (code, signal) => {
    exitError = new Error(`load generator exited (${code ?? signal})`);
    listener?.({ type: "failed", error: exitError.message });
  });
  const send = (m: ParentMessage): void => void child.send(m);
  const next = (onMessage: (m: ChildMessage, done: (error?: Error) => void) => void): Promise<void> =>
    new Promise((resolveNext, reject) => {
      if (exitError !== undefined) {
        reject(exitError);
        return;
      }
      listener = (m) => {
        if (m.type === "failed") {
          listener = undefined;
          reject(new Error(`load generator failed: ${m.error}`));
          return;
        }
        onMessage(m, (error) => {
          listener = undefined;
          if (error === undefined) resolveNext();
          else reject(error);
        });
      };
    });

  const ready = next((m, done) => (m.type === "ready" ? done() : undefined));
  send({ type: "init", spec });
  await ready;

  return {
    async run(run, watch) {
      const start: Record<string, number> = {};
      const end: Record<string, number> = {};
      let result: LoadResult | undefined;
      let clientStart = 0;
      let clientEnd = 0;
      const finished = next((m, done) => {
        if (m.type === "window-start") {
          for (const [label, pid] of Object.entries(watch)) start[label] = cpuMs(pid);
          clientStart = cpuMs(child.pid as number);
        } else if (m.type === "window-end") {
          for (const [label, pid] of Object.entries(watch)) end[label] = cpuMs(pid);
          clientEnd = cpuMs(child.pid as number);
        }
        else if (m.type === "result") {
          result = m.result;
          done();
        }
      });
      send({ type: "run", run });
      await finished;
      const r = result as LoadResult;
      const cpu: Record<string, number> = {};
      const perOp: Record<string, number> = {};
      let total = 0;
      for (const label of Object.keys(watch)) {
        const used = (end[label] ?? 0) - (start[label] ?? 0);
        cpu[label] = used;
        perOp[label] = r.ops === 0 ? 0 : (used * 1000) / r.ops;
        total += used;
      }
      perOp["server"] = r.ops === 0 ? 0 : (total * 1000) / r.ops;
      const loadGeneratorCpuUsPerOp = r.ops === 0 ? 0 : ((clientEnd - clientStart) * 1000) / r.ops;
      return { ...r, cpuMs: cpu, cpuUsPerOp: perOp, loadGeneratorCpuUsPerOp };
    },
    async close() {
      process.removeListener("exit", killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      send({ type: "exit" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
