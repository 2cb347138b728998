import { describe, expect, it } from "vitest";
import { matchesFacts, matchesRecord, type AuditFilter } from "../../../services/audit/filter.js";
import { messagePrefilter } from "../../../services/audit/prefilter.js";
import { auditRecords, factsOf, grantFactsOf, type GrantFacts } from "../../../services/audit/records.js";
import type { LedgerEvent } from "../../../services/domain/events.js";
import { encodeEnvelope } from "../../../services/eventlog/codec.js";
import { subjectFor } from "../../../services/eventlog/subjects.js";
import type { AggregateRef, RecordedEnvelope } from "../../../services/eventlog/types.js";

const T0 = 1_700_000_000_000;
const ROOT = "ledger";

interface Message {
  readonly subject: string;
  readonly body: Uint8Array;
  readonly envelope: RecordedEnvelope;
}

let seq = 0;
function message(aggregate: AggregateRef, events: LedgerEvent[], actor: string): Message {
  seq++;
  const meta = { eventId: `ev-${seq}`, at: T0 + seq, actor, requestId: `rq-${seq}` };
  const { body } = encodeEnvelope({ aggregate, expectedVersion: 0, msgId: `m-${seq}`, prev: null, meta, events });
  return { subject: subjectFor(aggregate, ROOT), body, envelope: { seq, aggregate, ...meta, prev: null, hash: "h", storedAt: meta.at, events } };
}

const created = (grantId: string, subject: string, clientId: string, resources: string[]): LedgerEvent => ({
  type: "grant.created",
  data: { grantId, subject, clientId, scopes: ["zone:read"], resources, expiresAt: null, createdAt: T0 },
});
const issued = (grantId: string, tokenId: string): LedgerEvent => ({
  type: "token.issued",
  data: { grantId, tokens: [{ tokenId, kind: "access_token", hash: `k1:${tokenId}`, familyId: `fa-${tokenId}`, scopes: ["zone:read"], issuedAt: T0, expiresAt: T0 + 1 }] },
});

function history(): Message[] {
  seq = 0;
  return [
    message({ kind: "client", id: "cl_a" }, [
      { type: "client.registered", data: { clientId: "cl_a", ownerAccount: "acme", name: 'Say "hi"', redirectUris: [], allowedScopes: ["zone:read"], clientType: "public", secretHash: null } },
    ], "dev"),
    message({ kind: "grant", id: "gr_1" }, [created("gr_1", "ann", "cl_a", ["acct-1"])], "app"),
    message({ kind: "grant", id: "gr_2" }, [created("gr_2", "ben", "cl_b", ["acct-2"])], "app"),
    message({ kind: "grant", id: "gr_1" }, [issued("gr_1", "t1"), issued("gr_1", "t2")], "app"),
    message({ kind: "grant", id: "gr_2" }, [issued("gr_2", "t3")], "app"),
    message({ kind: "grant", id: "gr_2" }, [{ type: "grant.scopes_updated", data: { grantId: "gr_2", scopes: [] } }], "ann"),
    message({ kind: "client", id: "cl_a" }, [{ type: "client.suspended", data: { clientId: "cl_a", reason: "abuse" } }], "admin"),
    message({ kind: "grant", id: "gr_1" }, [{ type: "grant.revoked", data: { grantId: "gr_1", reason: "asked" } }], "support"),
    message({ kind: "subject", id: "ben" }, [{ type: "subject.revoked", data: { subject: "ben", reason: "closed", revokedAt: T0 } }], "admin"),
  ];
}

const FILTERS: Array<[string, AuditFilter]> = [
  ["one type", { types: ["token.issued"] }],
  ["two types", { types: ["grant.revoked", "client.suspended"] }],
  ["actor", { actor: "app" }],
  ["actor who also is a user", { actor: "ann" }],
  ["user", { subject: "ann" }],
  ["user ben", { subject: "ben" }],
  ["client", { clientId: "cl_b" }],
  ["resource", { resource: "acct-1" }],
  ["user and type", { subject: "ann", types: ["token.issued"] }],
  ["nobody", { subject: "nobody" }],
];

describe("replay prefilter: skips only messages that cannot match", () => {
  it("never says no to a message with a matching record, and does skip (so it is not vacuous)", () => {
    const messages = history();
    let skipped = 0;
    for (const [name, filter] of FILTERS) {
      // As a replay sees grants: each creation before the messages after it.
      const grants = new Map<string, GrantFacts>();
      const prefilter = messagePrefilter(filter, ROOT, (id) => grants.get(id));
      expect(prefilter, name).toBeDefined();
      for (const m of messages) {
        const records = auditRecords(m.envelope);
        const matching = records.filter((r) => matchesRecord(filter, r) && matchesFacts(filter, factsOf(r, (id) => grants.get(id))));
        const mayMatch = prefilter?.(m.subject, m.body) ?? true;
        if (matching.length > 0) expect(mayMatch, `${name}: message ${m.envelope.seq} matches`).toBe(true);
        if (!mayMatch) skipped++;
        for (const r of records) {
          const facts = grantFactsOf(r);
          if (facts !== undefined) grants.set(...facts);
        }
      }
    }
    expect(skipped).toBeGreaterThan(20);
  });

  it("decodes any body with an escape, whatever the filter", () => {
    const [client] = history();
    const prefilter = messagePrefilter({ types: ["token.issued"] }, ROOT, () => undefined);
    expect(Buffer.from((client as Message).body).includes(0x5c)).toBe(true);
    expect(prefilter?.((client as Message).subject, (client as Message).body)).toBe(true);
  });

  it("decodes a grant's message that names another grant or a user of its own", () => {
    const grants = new Map<string, GrantFacts>([["gr_1", { subject: "ann", clientId: "cl_a", resources: [] }]]);
    const prefilter = messagePrefilter({ subject: "ben" }, ROOT, (id) => grants.get(id));
    const plain = message({ kind: "grant", id: "gr_1" }, [issued("gr_1", "t9")], "app");
    const foreign = message({ kind: "grant", id: "gr_1" }, [issued("gr_7", "t9")], "app");
    expect(prefilter?.(plain.subject, plain.body)).toBe(false);
    expect(prefilter?.(foreign.subject, foreign.body)).toBe(true);
  });

  it("is absent for filters it cannot help (sequence and time ranges, aggregates)", () => {
    expect(messagePrefilter({ fromSeq: 3, toTime: T0 }, ROOT, () => undefined)).toBeUndefined();
    expect(messagePrefilter({ aggregate: { kind: "grant", id: "gr_1" } }, ROOT, () => undefined)).toBeUndefined();
  });
});
