import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openProjectionDatabase, readCheckpoint } from "../../../projections/runner/index.js";
import { connectEventLog, type JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import { LogWriter, subjectRevoked } from "../../support/envelopes.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";

const CHILD = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/** The child process and its progress as it reports it on stdout. */
interface Child {
  readonly process: ChildProcess;
  /** Highest `applied <seq>` seen so far. */
  readonly applied: () => number;
  /** Resolves once the child reported a commit at or past `seq`. */
  reached(seq: number, timeoutMs: number): Promise<void>;
  killed(): Promise<void>;
}

/**
 * Runs the child with node's own tsx loader (one process, so SIGKILL hits the runner itself; an
 * `npx tsx` wrapper would die and leave its node grandchild running).
 */
function spawnChild(args: string[]): Child {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let applied = -1;
  let stderr = "";
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const match = /^(?:applied|ready) (\d+)$/.exec(line);
    if (match !== null) applied = Math.max(applied, Number(match[1]));
    for (const listener of listeners) listener();
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    process: child,
    applied: () => applied,
    reached: (seq, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (applied >= seq) done(resolve);
        };
        const done = (settle: () => void): void => {
          listeners.delete(check);
          clearTimeout(timer);
          settle();
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`child applied ${applied} < ${seq} after ${timeoutMs} ms\n${stderr}`))),
          timeoutMs,
        );
        void exited.then(() => {
          if (applied < seq) done(() => reject(new Error(`child exited at ${applied} < ${seq}:\n${stderr}`)));
        });
        listeners.add(check);
        check();
      }),
    killed: () => exited,
  };
}

describe("projection runner killed with SIGKILL mid-stream", () => {
  let nats: NatsServer;
  let log: JetStreamEventLog;
  let dir: string;
  const stream = `CRASH_${randomUUID().replaceAll("-", "")}`;
  const subjectRoot = `crash${randomUUID().replaceAll("-", "")}`;

  beforeAll(async () => {
    nats = await startNatsServer();
    log = await connectEventLog({ servers: nats.url, stream, subjectRoot });
    dir = await mkdtemp(join(tmpdir(), "gl-crash-"));
  });

  afterAll(async () => {
    await log?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Rows and checkpoint agree: every sequence 1..checkpoint exactly once, nothing beyond. */
  const consistentState = (file: string): number => {
    const db = openProjectionDatabase(file, { readonly: true });
    try {
      const checkpoint = readCheckpoint(db, "counting")?.seq ?? 0;
      const { count, max, min } = db.prepare("SELECT count(*) AS count, max(seq) AS max, min(seq) AS min FROM applied").get() as {
        count: number;
        max: number | null;
        min: number | null;
      };
      expect(count).toBe(checkpoint);
      expect(max ?? 0).toBe(checkpoint);
      if (count > 0) expect(min).toBe(1);
      return checkpoint;
    } finally {
      db.close();
    }
  };

  it("applies every event exactly once across kills and restarts", { timeout: 120_000 }, async () => {
    const file = join(dir, "counting.sqlite");
    const writer = new LogWriter(log);
    const append = async (from: number, count: number): Promise<void> => {
      for (let i = 0; i < count; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, count - i) }, (_, j) => writer.append(subjectRevoked(`u-${from + i + j}`))),
        );
      }
    };
    await append(0, 2000);
    // More events arrive while the child is being killed and restarted: the live tail is crashed too.
    const late = append(2000, 1000);

    const args = [nats.url, stream, subjectRoot, file, "16", "150"];
    let checkpoint = 0;
    const checkpoints: number[] = [];
    for (let round = 0; round < 4; round++) {
      const child = spawnChild(args);
      // Let it make some progress past where the previous one was killed, then kill it mid-stream.
      await child.reached(checkpoint + 100 + round * 37, 60_000);
      // A few ms later, so the kill lands at varying points (mostly inside a transaction: apply spins).
      await new Promise((resolve) => setTimeout(resolve, round * 3));
      child.process.kill("SIGKILL");
      await child.killed();
      const reported = child.applied();
      checkpoint = consistentState(file);
      // A process crash loses no commit (WAL, synchronous=NORMAL only risks an OS crash).
      expect(checkpoint).toBeGreaterThanOrEqual(reported);
      checkpoints.push(checkpoint);
    }
    await late;

    const last = spawnChild(args);
    await last.reached(3000, 60_000);
    last.process.kill("SIGKILL");
    await last.killed();
    expect(consistentState(file)).toBe(3000);
    // Every round made progress, and was killed before the end.
    for (let i = 1; i < checkpoints.length; i++) expect(checkpoints[i]).toBeGreaterThan(checkpoints[i - 1] as number);
    expect(checkpoints.at(-1)).toBeLessThan(3000);
  });
});
