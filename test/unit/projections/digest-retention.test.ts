import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import type { Database } from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectionDigest, startProjection } from "../../../projections/runner/index.js";
import {
  deleteRevoked,
  deleteRevokedBatch,
  type RetentionCursor,
  sequenceStoredBefore,
  startCursor,
  startRevokedRetention,
  TOKENS_PROJECTION,
  TokensReadModel,
} from "../../../projections/tokens/index.js";
import type { LedgerEvent } from "../../../services/domain/events.js";
import { createMemoryEventLog } from "../../../services/eventlog/memory.js";
import type { RecordedEnvelope } from "../../../services/eventlog/types.js";
import {
  clientRegistered,
  EnvelopeBuilder,
  grantCreated,
  grantRevoked,
  hashOf,
  HOUR,
  issued,
  LogWriter,
  T0,
  tokenIssued,
  tokenRevoked,
} from "../../support/envelopes.js";

const NOW = T0 + 10 * 60_000;
const LONG = { expiresAt: T0 + 24 * HOUR };

/** A tokens read model in memory fed with `messages`, one transaction each; returns each message's sequence. */
function readModelOf(messages: LedgerEvent[][]): { db: Database; seqs: number[] } {
  const db = new BetterSqlite3(":memory:");
  TOKENS_PROJECTION.migrate(db);
  db.exec("CREATE TABLE checkpoint (projection TEXT PRIMARY KEY, version INTEGER NOT NULL, seq INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT");
  const builder = new EnvelopeBuilder();
  const seqs = messages.map((events) => {
    const envelope = builder.next(events);
    db.transaction(() => TOKENS_PROJECTION.apply(db, envelope))();
    return envelope.seq;
  });
  return { db, seqs };
}

describe("projection content digest", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gl-digest-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is the same for two files built from the same log with different batch sizes, and names the sequence", async () => {
    const log = createMemoryEventLog();
    const writer = new LogWriter(log);
    await writer.append(clientRegistered("client-1"));
    for (let g = 0; g < 40; g++) {
      await writer.append(grantCreated(`grant-${g}`));
      await writer.append(tokenIssued(`grant-${g}`, [issued(`at-${g}`, LONG), issued(`rt-${g}`, { ...LONG, kind: "refresh_token" })]));
      if (g % 5 === 0) await writer.append(grantRevoked(`grant-${g}`));
    }
    const head = await log.headSequence();
    const digests = [];
    for (const batchSize of [1, 7, 2048]) {
      const controller = new AbortController();
      const runner = startProjection({ log, projection: TOKENS_PROJECTION, file: join(dir, `b${batchSize}.db`), signal: controller.signal, batchSize });
      expect(await runner.caughtUp(5000)).toBe(true);
      digests.push(projectionDigest(runner.db, "tokens"));
      await runner.stop();
    }
    expect(digests[0]?.seq).toBe(head);
    expect(digests[0]?.rows).toMatchObject({ clients: 1, grants: 40, tokens: 80 });
    expect(digests[1]).toEqual(digests[0]);
    expect(digests[2]).toEqual(digests[0]);
    log.close();
  });

  it("changes with any row's content, not with the checkpoint's commit time", () => {
    const messages: LedgerEvent[][] = [[clientRegistered("client-1")], [grantCreated("grant-1")], [tokenIssued("grant-1", [issued("at-1", LONG)])]];
    const a = readModelOf(messages).db;
    const b = readModelOf(messages).db;
    a.prepare("INSERT INTO checkpoint VALUES ('tokens', 2, 3, 1)").run();
    b.prepare("INSERT INTO checkpoint VALUES ('tokens', 2, 3, 999)").run();
    expect(projectionDigest(a, "tokens")).toEqual(projectionDigest(b, "tokens"));
    b.prepare("UPDATE tokens SET scopes = 'repo:write'").run();
    expect(projectionDigest(b, "tokens").digest).not.toBe(projectionDigest(a, "tokens").digest);
    // A NULL and an empty string are different content.
    const c = readModelOf(messages).db;
    c.prepare("UPDATE tokens SET revoked_reason = ''").run();
    expect(projectionDigest(c, "tokens").digest).not.toBe(projectionDigest(readModelOf(messages).db, "tokens").digest);
  });
});

describe("retention of revoked rows", () => {
  /**
   * grant-1: at-live (active), at-revoked (revoked itself, early), at-late (revoked after the cutoff),
   * rt-fam (family revoked as reuse, early); grant-2 revoked early with at-g2; grant-3 untouched.
   */
  const world = () => {
    const { db, seqs } = readModelOf([
      [clientRegistered("client-1")],
      [grantCreated("grant-1")],
      [grantCreated("grant-2")],
      [grantCreated("grant-3")],
      [
        tokenIssued("grant-1", [
          issued("at-live", LONG),
          issued("at-revoked", LONG),
          issued("at-late", LONG),
          issued("rt-fam", { ...LONG, kind: "refresh_token", familyId: "fam-x" }),
        ]),
      ],
      [tokenIssued("grant-2", [issued("at-g2", LONG)])],
      [tokenIssued("grant-3", [issued("at-g3", LONG)])],
      [tokenRevoked("grant-1", { tokenIds: ["at-revoked"] })],
      [tokenRevoked("grant-1", { familyIds: ["fam-x"], reason: "refresh token reuse" })],
      [grantRevoked("grant-2")],
      [tokenRevoked("grant-1", { tokenIds: ["at-late"] })],
    ]);
    return { db, cutoff: seqs[9] as number, model: new TokensReadModel(db) };
  };
  const hashes = (db: Database): string[] => db.prepare<[], { token_id: string }>("SELECT token_id FROM tokens ORDER BY token_id").all().map((r) => r.token_id);

  it("removes tokens revoked (themselves, by family or by grant) at or before the cutoff, then revoked grants; answers do not change", () => {
    const { db, cutoff, model } = world();
    const answers = (): Record<string, boolean> =>
      Object.fromEntries(["at-live", "at-revoked", "at-late", "rt-fam", "at-g2", "at-g3"].map((t) => [t, model.introspect(hashOf(t), NOW) !== undefined]));
    const before = answers();
    expect(before).toEqual({ "at-live": true, "at-revoked": false, "at-late": false, "rt-fam": false, "at-g2": false, "at-g3": true });
    expect(deleteRevoked(db, cutoff, 2)).toEqual({ tokens: 3, grants: 1 });
    expect(hashes(db)).toEqual(["at-g3", "at-late", "at-live"]);
    expect(db.prepare("SELECT grant_id FROM grants ORDER BY grant_id").pluck().all()).toEqual(["grant-1", "grant-3"]);
    expect(answers()).toEqual(before);
    // Nothing left to remove at that cutoff; a later cutoff takes the late one.
    expect(deleteRevoked(db, cutoff)).toEqual({ tokens: 0, grants: 0 });
    expect(deleteRevoked(db, cutoff + 1)).toEqual({ tokens: 1, grants: 0 });
  });

  it("works in batches that examine at most batchSize rows, each returning the cursor to continue from", () => {
    const { db, cutoff } = world();
    const seen: number[] = [];
    let after: RetentionCursor | undefined = startCursor("tokens");
    let batches = 0;
    while (after !== undefined) {
      const batch = deleteRevokedBatch(db, "tokens", cutoff, after, 2);
      expect(batch.deleted).toBeLessThanOrEqual(2);
      seen.push(batch.deleted);
      after = batch.next;
      batches += 1;
    }
    expect(batches).toBe(4); // 6 tokens, 2 per page, and the empty page that ends the sweep
    expect(seen.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it("runs as a scheduler: the cutoff comes from the log's stored times, rows go in batches, abort stops it", async () => {
    const { db, cutoff } = world();
    // Message n was stored at n * 1000 ms; "now" is 100 s after message `cutoff`, the window 100 s.
    const log = {
      headSequence: () => Promise.resolve(11),
      get: (seq: number) => Promise.resolve(seq <= 11 ? ({ seq, storedAt: seq * 1000 } as RecordedEnvelope) : undefined),
    };
    const controller = new AbortController();
    const runs: Array<{ tokens: number; grants: number; cutoffSeq: number }> = [];
    const done = startRevokedRetention({
      db: () => db,
      log,
      retentionMs: 100_000,
      now: () => cutoff * 1000 + 100_000,
      batchSize: 2,
      intervalMs: 60_000,
      signal: controller.signal,
      onRun: (run) => {
        runs.push(run);
        controller.abort();
      },
    });
    await done;
    expect(runs).toEqual([{ tokens: 3, grants: 1, cutoffSeq: cutoff }]);
    expect(hashes(db)).toEqual(["at-g3", "at-late", "at-live"]);
  });

  it("finds the last sequence stored before an instant with a binary search over the log", async () => {
    const stored = [100, 200, 200, 300, 450, 900];
    let reads = 0;
    const log = {
      headSequence: () => Promise.resolve(stored.length),
      get: (seq: number) => {
        reads += 1;
        const storedAt = stored[seq - 1];
        return Promise.resolve(storedAt === undefined ? undefined : ({ seq, storedAt } as RecordedEnvelope));
      },
    };
    expect(await sequenceStoredBefore(log, 50)).toBe(0);
    expect(await sequenceStoredBefore(log, 200)).toBe(3);
    expect(await sequenceStoredBefore(log, 899)).toBe(5);
    expect(await sequenceStoredBefore(log, 10_000)).toBe(6);
    expect(reads).toBeLessThanOrEqual(4 * 4);
  });
});
