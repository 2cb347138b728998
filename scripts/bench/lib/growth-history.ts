import { createHash } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import type { LedgerEvent } from "../../../services/domain/events.js";
import { hashToken, type HashKey } from "../../../services/crypto/keys.js";
import { mintToken } from "../../../services/crypto/mint.js";
import { encodeEnvelope, ensureStream, subjectFor } from "../../../services/eventlog/index.js";
import type { AggregateRef } from "../../../services/eventlog/types.js";
import { SCOPES } from "./ledger.js";

/** Access tokens per token.issued message: big messages keep the fill of 10M tokens to minutes. */
export const TOKENS_PER_MESSAGE = 100;
/** Tokens under one grant (a long-lived consent with many sessions). */
export const TOKENS_PER_GRANT = 1_000;
const BASE_TIME = 1_800_000_000_000;
const FAR = BASE_TIME + 10 * 365 * 86_400_000;
const CLIENT_ID = "cl_growth000000000000000";

const id = (prefix: string, n: number): string => `${prefix}_${n.toString(36).padStart(22, "0")}`;

/** What {@link fillGrowthHistory} wrote: the messages, and plaintext tokens spread evenly over the set. */
export interface GrowthHistory {
  readonly messages: number;
  readonly tokens: number;
  /** Real tokens whose keyed hashes are in the log (every `tokens / sample`-th one); the others carry random hashes nobody holds. */
  readonly sample: string[];
}

/**
 * Appends a history of `tokens` live access tokens to the LEDGER stream at `natsUrl`: one client,
 * a grant per {@link TOKENS_PER_GRANT} tokens, token.issued messages of {@link TOKENS_PER_MESSAGE}.
 * Only about `sample` tokens are minted for real (the load generator presents them); the rest get
 * unique hashes of no token, which costs the read model exactly what a real one does.
 */
export async function fillGrowthHistory(natsUrl: string, tokens: number, sample: number, key: HashKey): Promise<GrowthHistory> {
  const nc = await connect({ servers: natsUrl, name: "bench-growth-fill" });
  try {
    await ensureStream(await jetstreamManager(nc));
    const js = jetstream(nc, { timeout: 60_000 });
    const window: Promise<unknown>[] = [];
    let messages = 0;
    const publish = async (aggregate: AggregateRef, events: LedgerEvent[]): Promise<void> => {
      const n = messages++;
      const encoded = encodeEnvelope({
        aggregate,
        expectedVersion: 0,
        msgId: `growth-${n}`,
        meta: { eventId: `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`, at: BASE_TIME + n, actor: "bench", requestId: `growth-${n}` },
        prev: null,
        events,
      });
      const h = natsHeaders();
      for (const [k, v] of Object.entries(encoded.headers)) h.set(k, v);
      window.push(js.publish(subjectFor(aggregate), encoded.body, { headers: h }));
      if (window.length >= 256) await Promise.all(window.splice(0));
    };

    await publish({ kind: "client", id: CLIENT_ID }, [
      {
        type: "client.registered",
        data: {
          clientId: CLIENT_ID,
          ownerAccount: "acct-growth",
          name: "Growth app",
          redirectUris: ["https://app.example/callback"],
          allowedScopes: SCOPES,
          clientType: "confidential",
          secretHash: "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        },
      },
    ]);
    const every = Math.max(1, Math.floor(tokens / sample));
    const plaintexts: string[] = [];
    for (let first = 0; first < tokens; first += TOKENS_PER_MESSAGE) {
      const g = Math.floor(first / TOKENS_PER_GRANT);
      const grantId = id("gr", g);
      const aggregate: AggregateRef = { kind: "grant", id: grantId };
      if (first % TOKENS_PER_GRANT === 0) {
        await publish(aggregate, [
          { type: "grant.created", data: { grantId, subject: `user-${g}`, clientId: CLIENT_ID, scopes: SCOPES, resources: [`acct-${g}`], expiresAt: null, createdAt: BASE_TIME } },
        ]);
      }
      const issued = [];
      for (let t = first; t < Math.min(tokens, first + TOKENS_PER_MESSAGE); t++) {
        let hash: string;
        if (t % every === 0) {
          const token = mintToken("access_token");
          plaintexts.push(token);
          hash = hashToken(key, token);
        } else {
          hash = `${key.id}:${createHash("sha256").update(`growth ${t}`).digest("base64url")}`;
        }
        issued.push({ tokenId: id("at", t), kind: "access_token" as const, hash, familyId: id("fa", t), scopes: SCOPES, issuedAt: BASE_TIME, expiresAt: FAR });
      }
      await publish(aggregate, [{ type: "token.issued", data: { grantId, tokens: issued } }]);
    }
    await Promise.all(window);
    return { messages, tokens, sample: plaintexts };
  } finally {
    await nc.close();
  }
}
