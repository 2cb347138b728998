import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig, type Config } from "../../services/config/config.js";

/** What the background-server commands (`nats up|down`, `nats cluster up|down`) share. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True while `pid` exists (EPERM: it exists but belongs to someone else). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** The pid in `pidFile` while that process runs; undefined for a missing or stale pid file. */
export function runningPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** The configuration for a command that takes no flags; exit code 2 (message printed) when it is bad. */
export function configOrExit(args: string[]): Config | number {
  try {
    parseArgs({ args, options: {}, strict: true });
    return loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
}

/** Starts `binary args` detached (outliving this command), output appended to `logFile`, pid written to `pidFile`. */
export function spawnDetached(binary: string, args: readonly string[], logFile: string, pidFile: string): number | undefined {
  const out = openSync(logFile, "a");
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  if (child.pid === undefined) return undefined;
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  return child.pid;
}

/** Waits until `pid` has exited; false when it is still running after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}
