import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LedgerEvent } from "../../../services/domain/events.js";
import { DomainError } from "../../../services/domain/shared/errors.js";
import { encodeEnvelope } from "../../../services/eventlog/codec.js";
import type {
  AggregateRef,
  AppendRequest,
  EventLog,
  RecordedEnvelope,
} from "../../../services/eventlog/types.js";

/** A fresh, empty event log for one test, and how to dispose of it. */
export interface EventLogHarness {
  readonly log: EventLog;
  close(): Promise<void> | void;
}

export const revoked = (subject: string, reason = "x", revokedAt = 1): LedgerEvent => ({
  type: "subject.revoked",
  data: { subject, reason, revokedAt },
});

/** An append request with sensible defaults; override any field. */
export function appendRequest(aggregate: AggregateRef, overrides: Partial<AppendRequest> = {}): AppendRequest {
  const requestId = overrides.meta?.requestId ?? randomUUID();
  return {
    aggregate,
    expectedVersion: 0,
    msgId: `req:${requestId}`,
    prev: null,
    events: [revoked(aggregate.id)],
    ...overrides,
    meta: { eventId: randomUUID(), at: 1_700_000_000_000, actor: "tester", requestId, ...overrides.meta },
  };
}

export const subjectRef = (id: string): AggregateRef => ({ kind: "subject", id });

/** Collects `count` envelopes from `follow`, then aborts it; fails after `timeoutMs`. */
export async function take(
  log: EventLog,
  fromSeq: number,
  count: number,
  during?: () => Promise<void>,
  timeoutMs = 10_000,
): Promise<RecordedEnvelope[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("take timed out")), timeoutMs);
  const out: RecordedEnvelope[] = [];
  const reading = (async () => {
    for await (const envelope of log.follow(fromSeq, controller.signal)) {
      out.push(envelope);
      if (out.length >= count) break;
    }
  })();
  try {
    if (during !== undefined) await during();
    await reading;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return out;
}

const expectDomainError = async (promise: Promise<unknown>, kind: DomainError["kind"]): Promise<void> => {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).kind).toBe(kind);
};

/**
 * The EventLog contract: every adapter runs these tests. `factory` returns a fresh, empty log per test.
 */
export function eventLogContract(name: string, factory: () => Promise<EventLogHarness>): void {
  describe(`EventLog contract: ${name}`, () => {
    let harness: EventLogHarness;
    let log: EventLog;
    beforeEach(async () => {
      harness = await factory();
      log = harness.log;
    });
    afterEach(async () => {
      await harness.close();
    });

    it("starts empty", async () => {
      expect(await log.headSequence()).toBe(0);
      expect(await log.get(1)).toBeUndefined();
      expect(await log.readAggregate(subjectRef("nobody"))).toEqual([]);
    });

    it("appends and reads back every field", async () => {
      const request = appendRequest(subjectRef("u1"), {
        events: [revoked("u1", "lost device", 5), revoked("u1", "again", 6)],
      });
      const result = await log.append(request);
      expect(result).toEqual({ seq: 1, duplicate: false, hash: encodeEnvelope(request).hash });
      const [envelope, ...rest] = await log.readAggregate(subjectRef("u1"));
      expect(rest).toEqual([]);
      expect(envelope).toMatchObject({
        seq: 1,
        aggregate: { kind: "subject", id: "u1" },
        eventId: request.meta.eventId,
        at: request.meta.at,
        actor: "tester",
        requestId: request.meta.requestId,
        prev: null,
        hash: encodeEnvelope(request).hash,
        events: request.events,
      });
      expect(envelope?.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(typeof envelope?.storedAt).toBe("number");
      expect(Math.abs((envelope?.storedAt ?? 0) - Date.now())).toBeLessThan(60_000);
      expect(await log.get(1)).toEqual(envelope);
    });

    it("assigns one global sequence and per-aggregate versions", async () => {
      const a = subjectRef("a");
      const b = subjectRef("b");
      expect((await log.append(appendRequest(a))).seq).toBe(1);
      expect((await log.append(appendRequest(b))).seq).toBe(2);
      expect((await log.append(appendRequest(a, { expectedVersion: 1 }))).seq).toBe(3);
      expect((await log.append(appendRequest(b, { expectedVersion: 2 }))).seq).toBe(4);
      expect(await log.headSequence()).toBe(4);
      expect((await log.readAggregate(a)).map((e) => e.seq)).toEqual([1, 3]);
      expect((await log.readAggregate(b)).map((e) => e.seq)).toEqual([2, 4]);
    });

    it("keeps ids that need encoding apart and round-trips them", async () => {
      const ids = ["user@example.com", "a.b", "a.*", "~x", "", "ünï cødé", "x".repeat(129)];
      for (const id of ids) await log.append(appendRequest(subjectRef(id)));
      for (const [i, id] of ids.entries()) {
        const envelopes = await log.readAggregate(subjectRef(id));
        expect(envelopes.map((e) => e.seq)).toEqual([i + 1]);
        expect(envelopes[0]?.aggregate).toEqual({ kind: "subject", id });
      }
    });

    it("keeps aggregate kinds apart", async () => {
      await log.append(appendRequest({ kind: "subject", id: "same" }));
      await log.append(appendRequest({ kind: "grant", id: "same" }, {
        events: [{ type: "grant.revoked", data: { grantId: "same", reason: "x" } }],
      }));
      expect((await log.readAggregate({ kind: "subject", id: "same" })).map((e) => e.seq)).toEqual([1]);
      expect((await log.readAggregate({ kind: "grant", id: "same" })).map((e) => e.seq)).toEqual([2]);
    });

    it("rejects a stale expectedVersion with conflict and appends nothing", async () => {
      const u = subjectRef("u1");
      await log.append(appendRequest(u));
      await expectDomainError(log.append(appendRequest(u, { expectedVersion: 0 })), "conflict");
      await expectDomainError(log.append(appendRequest(u, { expectedVersion: 7 })), "conflict");
      await log.append(appendRequest(subjectRef("other")));
      // The aggregate's version is its own last sequence, not the stream's.
      await expectDomainError(log.append(appendRequest(u, { expectedVersion: 2 })), "conflict");
      expect(await log.headSequence()).toBe(2);
      expect((await log.append(appendRequest(u, { expectedVersion: 1 }))).seq).toBe(3);
    });

    it("lets exactly one of two racing appends against the same version win", async () => {
      const u = subjectRef("u1");
      await log.append(appendRequest(u));
      const results = await Promise.allSettled([
        log.append(appendRequest(u, { expectedVersion: 1 })),
        log.append(appendRequest(u, { expectedVersion: 1 })),
        log.append(appendRequest(u, { expectedVersion: 1 })),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r) => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(2);
      for (const r of lost) expect((r.reason as DomainError).kind).toBe("conflict");
      expect(await log.headSequence()).toBe(2);
    });

    it("dedupes a repeated msgId: same seq, duplicate, nothing appended", async () => {
      const request = appendRequest(subjectRef("u1"));
      expect(await log.append(request)).toMatchObject({ seq: 1, duplicate: false });
      await log.append(appendRequest(subjectRef("u2")));
      // A retry may carry a different event id; the msgId decides.
      const retry = { ...request, meta: { ...request.meta, eventId: randomUUID() } };
      expect(await log.append(retry)).toEqual({ seq: 1, duplicate: true, hash: null });
      expect(await log.headSequence()).toBe(2);
      expect(await log.readAggregate(subjectRef("u1"))).toHaveLength(1);
    });

    it("detects a duplicate before the concurrency check (a retry after a lost ack is not a conflict)", async () => {
      // The command layer retries with the same msgId and the same, now stale, expectedVersion.
      const u = subjectRef("u1");
      await log.append(appendRequest(u));
      const request = appendRequest(u, { expectedVersion: 1 });
      expect(await log.append(request)).toMatchObject({ seq: 2, duplicate: false });
      expect(await log.append(request)).toEqual({ seq: 2, duplicate: true, hash: null });
      // Even with another stale version: the msgId wins over the version check.
      expect(await log.append({ ...request, expectedVersion: 0 })).toEqual({ seq: 2, duplicate: true, hash: null });
      expect(await log.headSequence()).toBe(2);
    });

    it("reads an aggregate after a sequence", async () => {
      const u = subjectRef("u1");
      let version = 0;
      for (let i = 0; i < 5; i++) {
        version = (await log.append(appendRequest(u, { expectedVersion: version }))).seq;
        await log.append(appendRequest(subjectRef(`noise${i}`)));
      }
      expect((await log.readAggregate(u)).map((e) => e.seq)).toEqual([1, 3, 5, 7, 9]);
      expect((await log.readAggregate(u, 0)).map((e) => e.seq)).toEqual([1, 3, 5, 7, 9]);
      expect((await log.readAggregate(u, 3)).map((e) => e.seq)).toEqual([5, 7, 9]);
      expect((await log.readAggregate(u, 4)).map((e) => e.seq)).toEqual([5, 7, 9]);
      expect((await log.readAggregate(u, 9)).map((e) => e.seq)).toEqual([]);
      expect((await log.readAggregate(u, 100)).map((e) => e.seq)).toEqual([]);
    });

    it("reads a larger aggregate completely and in order", async () => {
      const u = subjectRef("big");
      let version = 0;
      for (let i = 0; i < 300; i++) {
        version = (await log.append(appendRequest(u, { expectedVersion: version, events: [revoked("big", `r${i}`)] }))).seq;
      }
      const all = await log.readAggregate(u);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(all.map((e) => (e.events[0]?.data as { reason: string }).reason)).toEqual(
        Array.from({ length: 300 }, (_, i) => `r${i}`),
      );
      expect((await log.readAggregate(u, 250)).map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 251));
    });

    it("gets one message by sequence", async () => {
      await log.append(appendRequest(subjectRef("a")));
      await log.append(appendRequest(subjectRef("b")));
      expect((await log.get(2))?.aggregate).toEqual({ kind: "subject", id: "b" });
      expect(await log.get(0)).toBeUndefined();
      expect(await log.get(3)).toBeUndefined();
    });

    it("chains hashes through prev", async () => {
      const u = subjectRef("u1");
      await log.append(appendRequest(u));
      const [first] = await log.readAggregate(u);
      await log.append(appendRequest(u, { expectedVersion: 1, prev: first?.hash ?? null }));
      const [, second] = await log.readAggregate(u);
      expect(second?.prev).toBe(first?.hash);
      expect(second?.hash).not.toBe(first?.hash);
    });

    it("rejects events that fail their schema and appends nothing", async () => {
      const bad = { type: "subject.revoked", data: { subject: "u1" } } as unknown as LedgerEvent;
      await expectDomainError(log.append(appendRequest(subjectRef("u1"), { events: [bad] })), "validation");
      await expectDomainError(log.append(appendRequest(subjectRef("u1"), { events: [] })), "validation");
      expect(await log.headSequence()).toBe(0);
    });

    it("follows from a checkpoint: stored messages, then live ones, in order", async () => {
      for (let i = 0; i < 5; i++) await log.append(appendRequest(subjectRef(`s${i}`)));
      const seen = await take(log, 3, 5, async () => {
        for (let i = 5; i < 7; i++) {
          await new Promise((r) => setTimeout(r, 20));
          await log.append(appendRequest(subjectRef(`s${i}`)));
        }
      });
      expect(seen.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7]);
      expect(seen.map((e) => e.aggregate.id)).toEqual(["s2", "s3", "s4", "s5", "s6"]);
    });

    it("follows an empty log from 1 and from 0", async () => {
      const seen = await take(log, 0, 2, async () => {
        await log.append(appendRequest(subjectRef("a")));
        await log.append(appendRequest(subjectRef("b")));
      });
      expect(seen.map((e) => e.seq)).toEqual([1, 2]);
    });

    it("follows from beyond the head: waits for that sequence", async () => {
      await log.append(appendRequest(subjectRef("a")));
      const seen = await take(log, 2, 1, async () => {
        await log.append(appendRequest(subjectRef("b")));
      });
      expect(seen.map((e) => e.seq)).toEqual([2]);
    });

    it("ends a follow when its signal aborts", async () => {
      const controller = new AbortController();
      const seen: number[] = [];
      const reading = (async () => {
        for await (const e of log.follow(1, controller.signal)) seen.push(e.seq);
      })();
      await log.append(appendRequest(subjectRef("a")));
      await new Promise((r) => setTimeout(r, 100));
      controller.abort();
      await reading;
      expect(seen).toEqual([1]);
    });
  });
}
