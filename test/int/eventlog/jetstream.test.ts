import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../../../services/domain/shared/errors.js";
import { EnvelopeDecodeError } from "../../../services/eventlog/codec.js";
import { connectEventLog, type JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import type { FollowOptions } from "../../../services/eventlog/follow.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { appendRequest, eventLogContract, revoked, subjectRef } from "./contract.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

/** A fresh stream and subject root per log, so tests never see each other's messages. */
async function freshLog(overrides: { timeoutMs?: number; directReadLimit?: number; follow?: FollowOptions; consistentReads?: boolean } = {}): Promise<JetStreamEventLog> {
  const id = randomUUID().replaceAll("-", "").slice(0, 12);
  return connectEventLog({
    servers: server.url,
    stream: `T_${id}`,
    subjectRoot: `t${id}`,
    name: "eventlog-test",
    ...overrides,
  });
}

eventLogContract("jetstream", async () => {
  const log = await freshLog();
  return { log, close: () => log.close() };
});

// What a replicated stream uses: single messages read through the leader's API, not direct gets.
eventLogContract("jetstream, leader reads", async () => {
  const log = await freshLog({ consistentReads: true });
  return { log, close: () => log.close() };
});

describe("jetstream event log", () => {
  it("reads a large aggregate through the ordered consumer path too", async () => {
    const log = await freshLog();
    try {
      let version = 0;
      for (let i = 0; i < 40; i++) {
        version = (await log.append(appendRequest(subjectRef("big"), { expectedVersion: version }))).seq;
        await log.append(appendRequest(subjectRef(`noise${i}`)));
      }
      const expected = Array.from({ length: 40 }, (_, i) => 2 * i + 1);
      expect((await log.readAggregate(subjectRef("big"))).map((e) => e.seq)).toEqual(expected);
      expect((await log.readAggregate(subjectRef("big"), 20)).map((e) => e.seq)).toEqual(expected.filter((s) => s > 20));
      // Direct gets only, then ordered consumer only: same answer, same envelopes.
      const direct = await freshLogView(log, 1_000);
      const consumer = await freshLogView(log, 0);
      expect(await direct.readAggregate(subjectRef("big"))).toEqual(await consumer.readAggregate(subjectRef("big")));
      await direct.close();
      await consumer.close();
    } finally {
      await log.close();
    }
  });

  it("configures the stream as an append-only log", async () => {
    const log = await freshLog();
    try {
      const info = await log.jsm.streams.info(log.stream);
      expect(info.config).toMatchObject({
        subjects: [`${log.subjectRoot}.>`],
        storage: "file",
        retention: "limits",
        discard: "old",
        allow_direct: true,
        deny_delete: true,
        deny_purge: true,
        duplicate_window: 120_000_000_000,
        compression: "s2",
      });
      await log.append(appendRequest(subjectRef("u1")));
      await expect(log.jsm.streams.deleteMessage(log.stream, 1)).rejects.toThrow();
      await expect(log.jsm.streams.purge(log.stream)).rejects.toThrow();
      // ensureStream is idempotent.
      await log.ensureStream();
      expect(await log.headSequence()).toBe(1);
    } finally {
      await log.close();
    }
  });

  it("turns S2 compression on for a stream created without it, and off when asked", async () => {
    const id = randomUUID().replaceAll("-", "").slice(0, 12);
    const options = { servers: server.url, stream: `T_${id}`, subjectRoot: `t${id}`, name: "eventlog-test" };
    const plain = await connectEventLog({ ...options, compression: "none" });
    try {
      expect((await plain.jsm.streams.info(plain.stream)).config.compression).toBe("none");
      await plain.append(appendRequest(subjectRef("u1")));
      const compressed = await connectEventLog(options);
      try {
        // A connect with the default updates the existing stream (nats-server allows the change).
        expect((await compressed.jsm.streams.info(compressed.stream)).config.compression).toBe("s2");
        expect(await compressed.headSequence()).toBe(1);
      } finally {
        await compressed.close();
      }
    } finally {
      await plain.close();
    }
  });

  it("sends the documented headers", async () => {
    const log = await freshLog();
    try {
      const request = appendRequest(subjectRef("u1"), {
        events: [revoked("u1"), { type: "grant.revoked", data: { grantId: "g", reason: "x" } }],
      });
      await log.append(request);
      const m = await log.jsm.direct.getMessage(log.stream, { seq: 1 });
      expect(m?.subject).toBe(`${log.subjectRoot}.subject.u1`);
      expect(m?.header.get("Nats-Msg-Id")).toBe(request.msgId);
      expect(m?.header.get("Gl-Event-Id")).toBe(request.meta.eventId);
      expect(m?.header.get("Gl-Event-Types")).toBe("subject.revoked,grant.revoked");
      expect(m?.header.get("Gl-Schema-Versions")).toBe("1,1");
      expect(JSON.parse(m?.string() ?? "")).toEqual({
        v: 1,
        id: request.meta.eventId,
        at: request.meta.at,
        actor: "tester",
        requestId: request.meta.requestId,
        prev: null,
        events: [
          { type: "subject.revoked", v: 1, data: { subject: "u1", reason: "x", revokedAt: 1 } },
          { type: "grant.revoked", v: 1, data: { grantId: "g", reason: "x" } },
        ],
      });
    } finally {
      await log.close();
    }
  });

  it("replaces a consumer deleted under a running follow (as when its node dies): no gap, no repeat", async () => {
    const resets: string[] = [];
    const log = await freshLog({ follow: { onReset: ({ reason }) => resets.push(reason) } });
    const controller = new AbortController();
    const seen: number[] = [];
    const until = async (count: number): Promise<void> => {
      for (let i = 0; i < 200 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      for (let i = 1; i <= 3; i++) await log.append(appendRequest(subjectRef(`u${i}`)));
      const following = (async () => {
        for await (const e of log.follow(1, controller.signal)) seen.push(e.seq);
      })();
      await until(3);
      const consumers = await log.jsm.consumers.list(log.stream).next();
      expect(consumers.length).toBe(1);
      for (const c of consumers) await log.jsm.consumers.delete(log.stream, c.name);
      for (let i = 4; i <= 6; i++) await log.append(appendRequest(subjectRef(`u${i}`)));
      await until(6);
      expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
      expect(resets.length).toBeGreaterThan(0);
      controller.abort();
      await following;
    } finally {
      controller.abort();
      await log.close();
    }
  });

  it("never decodes garbage silently: get, readAggregate and follow throw", async () => {
    const log = await freshLog();
    try {
      await log.append(appendRequest(subjectRef("u1")));
      await log.js.publish(`${log.subjectRoot}.subject.u1`, new TextEncoder().encode("{not json"));
      await log.js.publish(`${log.subjectRoot}.subject.u2`, new TextEncoder().encode(JSON.stringify({ v: 1 })));
      await log.js.publish(`${log.subjectRoot}.nonsense`, new TextEncoder().encode("{}"));
      await log.append(appendRequest(subjectRef("u3")));
      await expect(log.get(2)).rejects.toBeInstanceOf(EnvelopeDecodeError);
      await expect(log.get(3)).rejects.toBeInstanceOf(EnvelopeDecodeError);
      await expect(log.get(4)).rejects.toBeInstanceOf(EnvelopeDecodeError);
      await expect(log.readAggregate(subjectRef("u1"))).rejects.toBeInstanceOf(EnvelopeDecodeError);
      // Follow yields seq 1, then stops at 2 with an error: a projection must never skip an event.
      const seen: number[] = [];
      const controller = new AbortController();
      const following = (async () => {
        for await (const e of log.follow(1, controller.signal)) seen.push(e.seq);
      })();
      await expect(following).rejects.toBeInstanceOf(EnvelopeDecodeError);
      expect(seen).toEqual([1]);
      controller.abort();
      // Unknown event type and unsupported schema version are rejected too.
      const body = (type: string, v: number) =>
        new TextEncoder().encode(
          JSON.stringify({ v: 1, id: "e", at: 1, actor: "a", requestId: "r", prev: null, events: [{ type, v, data: {} }] }),
        );
      const a = await log.js.publish(`${log.subjectRoot}.subject.u4`, body("nope.happened", 1));
      const b = await log.js.publish(`${log.subjectRoot}.subject.u5`, body("subject.revoked", 2));
      await expect(log.get(a.seq)).rejects.toThrow(/unknown event type/);
      await expect(log.get(b.seq)).rejects.toThrow(/schema version 2/);
    } finally {
      await log.close();
    }
  });

  it("verifies on the real server that a duplicate msgId is detected before the concurrency check", async () => {
    const log = await freshLog();
    try {
      const u = subjectRef("u1");
      const first = appendRequest(u, { expectedVersion: 0 });
      expect((await log.append(first)).seq).toBe(1);
      // Same msgId, same expectedVersion (0, now stale): JetStream answers duplicate, not 10071.
      expect(await log.append(first)).toEqual({ seq: 1, duplicate: true, hash: null });
      // A different msgId with the stale version is a conflict.
      await expect(log.append(appendRequest(u, { expectedVersion: 0 }))).rejects.toMatchObject({ kind: "conflict" });
      expect(await log.headSequence()).toBe(1);
    } finally {
      await log.close();
    }
  });
});

/** A second log over the same stream with another direct-read limit. */
async function freshLogView(log: JetStreamEventLog, directReadLimit: number): Promise<JetStreamEventLog> {
  const { createJetStreamEventLog } = await import("../../../services/eventlog/jetstream.js");
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: server.url });
  const view = await createJetStreamEventLog(nc, { stream: log.stream, subjectRoot: log.subjectRoot, directReadLimit });
  return { ...view, close: () => nc.close() };
}

describe("jetstream event log with its own server", () => {
  let own: NatsServer;
  beforeAll(async () => {
    own = await startNatsServer();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it("follows across a nats-server restart without skipping or repeating", async () => {
    const log = await connectEventLog({ servers: own.url, stream: "RESTART", subjectRoot: "rs", timeoutMs: 2_000 });
    try {
      for (let i = 0; i < 10; i++) await log.append(appendRequest(subjectRef(`a${i}`)));
      const controller = new AbortController();
      const seen: number[] = [];
      let reached: () => void = () => undefined;
      const following = (async () => {
        for await (const e of log.follow(1, controller.signal)) {
          seen.push(e.seq);
          if (seen.length === 10 || seen.length === 30) reached();
        }
      })();
      await new Promise<void>((r) => (reached = r));
      await own.restart();
      // Appends retry until the client has reconnected.
      for (let i = 10; i < 30; i++) {
        const request = appendRequest(subjectRef(`a${i}`));
        for (let attempt = 0; ; attempt++) {
          try {
            await log.append(request);
            break;
          } catch (error) {
            if (!(error instanceof DomainError) || error.kind !== "unavailable" || attempt > 50) throw error;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }
      const done = new Promise<void>((r) => (reached = r));
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`stuck at ${seen.length}`)), 40_000))]);
      controller.abort();
      await following;
      expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    } finally {
      await log.close();
    }
  }, 60_000);

  it("throws unavailable when the server is gone, and works again after it is back", async () => {
    const log = await connectEventLog({ servers: own.url, stream: "DOWN", subjectRoot: "dn", timeoutMs: 1_000 });
    try {
      await log.append(appendRequest(subjectRef("u1")));
      await own.kill("SIGKILL");
      const error: unknown = await log.append(appendRequest(subjectRef("u2"))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).kind).toBe("unavailable");
      expect((error as DomainError).cause).toBeDefined();
      await expect(log.readAggregate(subjectRef("u1"))).rejects.toMatchObject({ kind: "unavailable" });
      await expect(log.headSequence()).rejects.toMatchObject({ kind: "unavailable" });
      await own.restart();
      for (let attempt = 0; ; attempt++) {
        try {
          expect((await log.readAggregate(subjectRef("u1"))).map((e) => e.seq)).toEqual([1]);
          break;
        } catch (e) {
          if (attempt > 50) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await log.close();
    }
  }, 60_000);
});
