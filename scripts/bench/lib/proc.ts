import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { canConnect } from "../../nats-server.js";

/** The repository root (benchmarks spawn every process from it). */
export const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux the benchmarks run on (getconf CLK_TCK)

/** CPU time (user + system) a process has used so far, in milliseconds, summed over its threads. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Pids of the node processes whose parent is `pid` (node:cluster workers; esbuild and nats-server are not node). */
export function nodeChildPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid && comm === "node") children.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return children.sort((a, b) => a - b);
}

/** Resident set size of a process, in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped; returns the peak and the samples' count. */
export function sampleRss(pid: number, intervalMs = 100): { stop(): { peakBytes: number; samples: number } } {
  let peak = rssBytes(pid);
  let samples = 1;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
    samples++;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, rssBytes(pid));
      return { peakBytes: peak, samples: samples + 1 };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { canConnect };

/** A child process the benchmark owns: its output is kept for error messages; killed on exit. */
export interface Child {
  readonly pid: number;
  readonly proc: ChildProcess;
  output(): string;
  /** Resolves once `text` appeared in stdout/stderr (rejects if the process exits first or after `timeoutMs`). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves once `port` accepts TCP connections. */
  waitForPort(port: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(graceMs?: number): Promise<void>;
}

const owned = new Set<ChildProcess>();
let hooked = false;

/** Spawns `node --import tsx <script> ...args` from the repo root. */
export function spawnTsx(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Child {
  return spawnChild(process.execPath, [...nodeArgs, "--import", "tsx", join(repoRoot, script), ...args], env);
}

let built = false;

/**
 * Spawns the ledger CLI (`grant-ledger <args>`) as `npm start` runs it: the build in dist/
 * (scripts/build.sh, run once per benchmark process), not the sources through tsx, whose __name()
 * wrapping of every named function would be measured as the ledger's own cost.
 */
export function spawnLedgerCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Child {
  if (!built) {
    execFileSync("bash", [join(repoRoot, "scripts/build.sh")], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
    built = true;
  }
  return spawnChild(process.execPath, [...nodeArgs, join(repoRoot, "dist/scripts/cli.js"), ...args], env);
}

export function spawnChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Child {
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const child of owned) child.kill("SIGKILL");
    });
  }
  const proc = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  owned.add(proc);
  proc.once("exit", () => owned.delete(proc));
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-64_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exited = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
  const until = async (ready: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await ready()) return;
      if (exited()) throw new Error(`${command} ${args.join(" ")} exited (${proc.exitCode ?? proc.signalCode}) before ${what}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms:\n${output}`);
      await sleep(25);
    }
  };
  if (proc.pid === undefined) throw new Error(`could not spawn ${command}`);
  return {
    pid: proc.pid,
    proc,
    output: () => output,
    waitFor: (text, timeoutMs = 60_000) => until(() => output.includes(text), `"${text}"`, timeoutMs),
    waitForPort: (port, timeoutMs = 60_000) => until(() => canConnect(port), `port ${port}`, timeoutMs),
    async stop(graceMs = 10_000) {
      if (exited()) return;
      const done = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await done;
      clearTimeout(timer);
    },
  };
}
