import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope, EnvelopeDecodeError, hashBody } from "../../../services/eventlog/codec.js";
import { aggregateFromSubject, decodeIdToken, encodeIdToken, subjectFor } from "../../../services/eventlog/subjects.js";
import { appendRequest, revoked, subjectRef } from "../../int/eventlog/contract.js";

describe("subjects", () => {
  it("keeps safe ids and encodes the rest", () => {
    expect(subjectFor({ kind: "grant", id: "g_1-A" })).toBe("ledger.grant.g_1-A");
    expect(subjectFor({ kind: "subject", id: "a.b" }, "x")).toBe(`x.subject.~${Buffer.from("a.b").toString("base64url")}`);
    expect(aggregateFromSubject("ledger.client.c1")).toEqual({ kind: "client", id: "c1" });
    expect(aggregateFromSubject("ledger.nope.c1")).toBeUndefined();
    expect(aggregateFromSubject("ledger.client.c1.extra")).toBeUndefined();
    expect(aggregateFromSubject("other.client.c1")).toBeUndefined();
    expect(aggregateFromSubject("ledger.client.~!!")).toBeUndefined();
  });

  it("round-trips any id through one subject-safe token", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (id) => {
        const token = encodeIdToken(id);
        expect(token).toMatch(/^~?[A-Za-z0-9_-]*$/);
        expect(decodeIdToken(token)).toBe(id);
        expect(aggregateFromSubject(subjectFor({ kind: "subject", id }, "r.s"), "r.s")).toEqual({ kind: "subject", id });
      }),
    );
  });
});

describe("codec", () => {
  const message = (body: Uint8Array, seq = 1) => ({ seq, subject: "ledger.subject.u1", body, storedAt: 5 });

  it("encodes deterministically and decodes what it encoded", () => {
    const request = appendRequest(subjectRef("u1"), { prev: "ab".repeat(32), events: [revoked("u1", "r", 3)] });
    const a = encodeEnvelope(request);
    const b = encodeEnvelope(request);
    expect(Buffer.from(a.body).equals(Buffer.from(b.body))).toBe(true);
    expect(a.hash).toBe(hashBody(a.body));
    expect(decodeEnvelope(message(a.body))).toEqual({
      seq: 1,
      aggregate: { kind: "subject", id: "u1" },
      ...request.meta,
      prev: request.prev,
      hash: a.hash,
      storedAt: 5,
      events: request.events,
    });
  });

  it("rejects garbage with EnvelopeDecodeError", () => {
    const enc = new TextEncoder();
    for (const body of [
      Uint8Array.of(0xff, 0xfe),
      enc.encode("{"),
      enc.encode("[]"),
      enc.encode(JSON.stringify({ v: 2, id: "e", at: 1, actor: "a", requestId: "r", prev: null, events: [] })),
      enc.encode(JSON.stringify({ v: 1, id: "e", at: 1, actor: "a", requestId: "r", prev: null, events: [] })),
      enc.encode(
        JSON.stringify({ v: 1, id: "e", at: 1, actor: "a", requestId: "r", prev: null, events: [{ type: "subject.revoked", v: 1, data: {} }] }),
      ),
    ]) {
      expect(() => decodeEnvelope(message(body, 9))).toThrow(EnvelopeDecodeError);
    }
  });
});
