import { randomUUID } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { encodeEnvelope } from "../../../services/eventlog/codec.js";
import type { JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import { subjectFor } from "../../../services/eventlog/subjects.js";
import type { AppendRequest } from "../../../services/eventlog/types.js";

/**
 * The history the audit benchmarks read (bench-replay.ts, bench-verify.ts), appended straight to the
 * log: message i concerns grant i mod (n / 20), its creation the first time (500 users, 50 apps,
 * 300 resources), then a token.issued with an access + refresh pair. With `chained`, each message's
 * `prev` is its grant's previous message, as the command handlers set it (what verify checks).
 */
export class BenchHistory {
  private readonly grants: number;
  /** Hash of each grant's last message. */
  private readonly last = new Map<string, string>();
  private pending: Promise<unknown>[] = [];

  constructor(
    private readonly log: JetStreamEventLog,
    n: number,
    private readonly chained: boolean,
  ) {
    this.grants = Math.max(1, Math.floor(n / 20));
  }

  /** Appends message `i` (call in order), with up to 2000 publishes in flight. */
  async append(i: number): Promise<void> {
    const g = i % this.grants;
    const grantId = `gr_${g}`;
    const previous = this.last.get(grantId);
    const request: AppendRequest = {
      aggregate: { kind: "grant", id: grantId },
      expectedVersion: 0,
      msgId: randomUUID(),
      prev: this.chained ? (previous ?? null) : null,
      meta: { eventId: randomUUID(), at: 1_700_000_000_000 + i, actor: `actor-${i % 7}`, requestId: randomUUID() },
      events:
        previous === undefined
          ? [{ type: "grant.created", data: { grantId, subject: `user-${g % 500}`, clientId: `cl_${g % 50}`, scopes: ["zone:read", "dns:read"], resources: [`acct-${g % 300}`], expiresAt: null, createdAt: 1_700_000_000_000 } }]
          : [
              {
                type: "token.issued",
                data: {
                  grantId,
                  tokens: [
                    { tokenId: `at_${i}`, kind: "access_token", hash: `k1:${"A".repeat(43)}`, familyId: `fa_${i}`, scopes: ["zone:read"], issuedAt: 1_700_000_000_000 + i, expiresAt: 1_700_003_600_000 + i },
                    { tokenId: `rt_${i}`, kind: "refresh_token", hash: `k1:${"B".repeat(43)}`, familyId: `fa_${i}`, scopes: ["zone:read"], issuedAt: 1_700_000_000_000 + i, expiresAt: 1_702_592_000_000 + i },
                  ],
                },
              },
            ],
    };
    const encoded = encodeEnvelope(request);
    this.last.set(grantId, encoded.hash);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(encoded.headers)) h.set(k, v);
    this.pending.push(this.log.js.publish(subjectFor(request.aggregate), encoded.body, { headers: h }));
    if (this.pending.length >= 2000) await this.flush();
  }

  /** Waits for every publish in flight. */
  async flush(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }
}
