import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  openProjectionDatabase,
  ProjectionApplyError,
  ProjectionVersionError,
  readCheckpoint,
  startProjection,
  waitForCheckpoint,
} from "../../../projections/runner/index.js";
import type { AppliedBatch, ProjectionRunner, StartProjectionOptions } from "../../../projections/runner/index.js";
import { TOKENS_PROJECTION, TokensReadModel } from "../../../projections/tokens/index.js";
import { connectEventLog } from "../../../services/eventlog/jetstream.js";
import { createMemoryEventLog } from "../../../services/eventlog/memory.js";
import type { EventLog } from "../../../services/eventlog/types.js";
import {
  clientRegistered,
  clientSuspended,
  grantCreated,
  hashOf,
  issued,
  LogWriter,
  subjectRevoked,
  T0,
  tokenIssued,
} from "../../support/envelopes.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { countingProjection } from "./fixtures/counting-projection.js";

interface Harness {
  readonly log: EventLog;
  close(): Promise<void>;
}

let nats: NatsServer | undefined;

const adapters: [string, () => Promise<Harness>][] = [
  [
    "memory",
    () => {
      const log = createMemoryEventLog();
      return Promise.resolve({ log, close: () => Promise.resolve(log.close()) });
    },
  ],
  [
    "jetstream",
    async () => {
      nats ??= await startNatsServer();
      const id = randomUUID().replaceAll("-", "");
      const log = await connectEventLog({ servers: nats.url, stream: `T_${id}`, subjectRoot: `t${id}` });
      return { log, close: () => log.close() };
    },
  ],
];

afterAll(async () => {
  await nats?.stop();
});

/** Appends `count` one-event messages (each on its own aggregate, so they may go concurrently). */
async function appendMany(writer: LogWriter, count: number, from = 0): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const chunk = Array.from({ length: Math.min(100, count - i) }, (_, j) =>
      writer.append(subjectRevoked(`user-${from + i + j}`)),
    );
    await Promise.all(chunk);
  }
}

describe.each(adapters)("projection runner on the %s log", (_name, makeHarness) => {
  let harness: Harness;
  let writer: LogWriter;
  let dir: string;
  let file: string;
  let controller: AbortController;
  const runners: ProjectionRunner[] = [];

  const start = (overrides: Partial<StartProjectionOptions> = {}): ProjectionRunner => {
    const runner = startProjection({
      log: harness.log,
      projection: countingProjection(),
      file,
      signal: controller.signal,
      ...overrides,
    });
    runners.push(runner);
    return runner;
  };

  /** A separate connection, as a reader in another process would have. */
  const inspect = <T>(read: (db: BetterSqlite3.Database) => T): T => {
    const db = openProjectionDatabase(file, { readonly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  const appliedSeqs = (): number[] =>
    inspect((db) => db.prepare("SELECT seq FROM applied ORDER BY seq").pluck().all() as number[]);

  beforeEach(async () => {
    harness = await makeHarness();
    writer = new LogWriter(harness.log);
    dir = await mkdtemp(join(tmpdir(), "gl-proj-"));
    file = join(dir, "counting.sqlite");
    controller = new AbortController();
  });

  afterEach(async () => {
    controller.abort();
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
    await harness.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("applies a backlog in full batches, each with its checkpoint in the same transaction", async () => {
    await appendMany(writer, 1000);
    const batches: AppliedBatch[] = [];
    const runner = start({ batchSize: 100, onApplied: (batch) => batches.push(batch) });
    expect(await runner.caughtUp(20_000)).toBe(true);
    expect(runner.appliedSeq).toBe(1000);
    expect(appliedSeqs()).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(inspect((db) => readCheckpoint(db, "counting"))).toMatchObject({ version: 1, seq: 1000 });
    // A backlog is applied in big transactions (the JetStream consumer delivers in bursts, so some
    // batches are flushed short when the burst ends); batches are contiguous and bounded.
    expect(batches.some((batch) => batch.count === 100)).toBe(true);
    expect(batches.length).toBeLessThanOrEqual(250);
    if (_name === "memory") expect(batches.map((batch) => batch.count)).toEqual(Array(10).fill(100));
    let next = 1;
    for (const batch of batches) {
      expect(batch.fromSeq).toBe(next);
      expect(batch.count).toBeLessThanOrEqual(100);
      expect(batch.toSeq - batch.fromSeq + 1).toBe(batch.count);
      next = batch.toSeq + 1;
    }
    // Inside `apply`, the checkpoint is still the previous batch's: it is written by the same
    // transaction, after the rows.
    const seen = inspect(
      (db) => db.prepare("SELECT seq, checkpoint_seen, in_transaction FROM applied").all() as {
        seq: number;
        checkpoint_seen: number;
        in_transaction: number;
      }[],
    );
    const batchStart = new Map<number, number>();
    for (const batch of batches) for (let s = batch.fromSeq; s <= batch.toSeq; s++) batchStart.set(s, batch.fromSeq);
    for (const row of seen) {
      expect(row.in_transaction).toBe(1);
      expect(row.checkpoint_seen).toBe((batchStart.get(row.seq) as number) - 1);
    }
  });

  it("tails the live log and wakes waitFor on commit", async () => {
    const runner = start();
    expect(await runner.caughtUp(5000)).toBe(true);
    expect(runner.appliedSeq).toBe(0);
    for (let i = 0; i < 20; i++) {
      const seq = await writer.append(subjectRevoked(`live-${i}`));
      expect(await runner.waitFor(seq, 5000)).toBe(true);
      expect(runner.appliedSeq).toBeGreaterThanOrEqual(seq);
    }
    // Waiters for several sequences are all woken, in any order of registration.
    const waits = [25, 22, 23, 21, 24].map((seq) => runner.waitFor(seq, 5000));
    await appendMany(writer, 5, 100);
    expect(await Promise.all(waits)).toEqual([true, true, true, true, true]);
    // A sequence that never comes times out.
    const started = Date.now();
    expect(await runner.waitFor(1000, 100)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it("restarts from its checkpoint: nothing applied twice, nothing skipped", async () => {
    await appendMany(writer, 300);
    const first = start({ batchSize: 64 });
    expect(await first.caughtUp(10_000)).toBe(true);
    await first.stop();
    expect(first.running).toBe(false);

    await appendMany(writer, 200, 300);
    const batches: AppliedBatch[] = [];
    const second = start({ batchSize: 64, onApplied: (batch) => batches.push(batch) });
    expect(second.appliedSeq).toBe(300);
    expect(await second.caughtUp(10_000)).toBe(true);
    expect(batches[0]?.fromSeq).toBe(301);
    expect(appliedSeqs()).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(second.appliedSeq).toBe(500);
  });

  it("stops with the error when apply throws, leaving the checkpoint and rows of that batch untouched", async () => {
    await appendMany(writer, 100);
    const errors: unknown[] = [];
    const failing = start({
      batchSize: 20,
      projection: countingProjection({ failAt: 57 }),
      onError: (error) => errors.push(error),
    });
    const rejection = await failing.done.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(rejection).toBeInstanceOf(ProjectionApplyError);
    expect(rejection).toMatchObject({ seq: 57, projection: "counting" });
    expect(String((rejection as Error).message)).toContain("subject.revoked");
    expect(errors).toEqual([rejection]);
    expect(failing.running).toBe(false);
    // Batches end where the log's bursts end, so the failed batch starts at or after 41 and at or
    // before 57; on the memory log (no bursts) it is exactly 41..60.
    const applied = failing.appliedSeq;
    expect(applied).toBeGreaterThanOrEqual(40);
    expect(applied).toBeLessThan(57);
    if (_name === "memory") expect(applied).toBe(40);
    expect(await failing.waitFor(applied + 1, 1000)).toBe(false);
    expect(inspect((db) => readCheckpoint(db, "counting")?.seq)).toBe(applied);
    expect(appliedSeqs()).toEqual(Array.from({ length: applied }, (_, i) => i + 1));

    // Fixed code resumes right where the failure left off.
    const fixed = start({ batchSize: 20 });
    expect(await fixed.caughtUp(10_000)).toBe(true);
    expect(appliedSeqs()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it("a second runner on the same file stops instead of applying twice", async () => {
    await appendMany(writer, 50);
    const first = start({ onError: () => undefined });
    expect(await first.caughtUp(5000)).toBe(true);
    const second = start({ onError: () => undefined });
    await appendMany(writer, 1, 50);
    // Whichever commits 51 first wins; the other finds the checkpoint moved under it and stops.
    const loser = await Promise.race(
      [first, second].map((runner) => runner.done.then(() => runner, () => runner)),
    );
    await expect(loser.done).rejects.toThrow(/another runner writes to the same file/);
    const winner = loser === first ? second : first;
    expect(await winner.waitFor(51, 5000)).toBe(true);
    expect(appliedSeqs()).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
  });

  it("refuses a file written by another version of the projection", async () => {
    await appendMany(writer, 3);
    const v1 = start();
    expect(await v1.caughtUp(5000)).toBe(true);
    await v1.stop();
    expect(() => start({ projection: countingProjection({ version: 2 }) })).toThrow(ProjectionVersionError);
  });

  it("lets a reader in another connection wait for a sequence through the checkpoint", async () => {
    const runner = start();
    const db = openProjectionDatabase(file, { readonly: true });
    try {
      expect(readCheckpoint(db, "counting")).toMatchObject({ seq: 0, version: 1 });
      const waiting = waitForCheckpoint(db, "counting", 10, { timeoutMs: 5000, intervalMs: 2 });
      await appendMany(writer, 10);
      expect(await waiting).toBe(true);
      expect(await waitForCheckpoint(db, "counting", 11, { timeoutMs: 30 })).toBe(false);
      expect(runner.appliedSeq).toBe(10);
    } finally {
      db.close();
    }
  });

  it("runs the tokens projection: commands' sequences are visible to introspection once applied", async () => {
    file = join(dir, "tokens.sqlite");
    const runner = start({ projection: TOKENS_PROJECTION });
    const reader = openProjectionDatabase(file, { readonly: true });
    try {
      const model = new TokensReadModel(reader);
      await writer.append(clientRegistered("client-1"));
      await writer.append(grantCreated("grant-1"));
      const issuedSeq = await writer.append(tokenIssued("grant-1", [issued("at-1", { expiresAt: T0 + 3_600_000 })]));
      expect(await runner.waitFor(issuedSeq, 5000)).toBe(true);
      expect(model.introspect(hashOf("at-1"), T0 + 1000)).toMatchObject({ tokenId: "at-1", clientId: "client-1" });
      expect(model.checkpoint()?.seq).toBe(issuedSeq);

      const suspendedSeq = await writer.append(clientSuspended("client-1"));
      expect(await runner.waitFor(suspendedSeq, 5000)).toBe(true);
      expect(model.introspect(hashOf("at-1"), T0 + 1000)).toBeUndefined();
    } finally {
      reader.close();
    }
  });
});
