import type { ClientState } from "../domain/client/state.js";
import { resourceExhausted, unauthenticated } from "../domain/shared/errors.js";
import { verifySecret } from "../crypto/secrets.js";
import type { ClientAuthentication } from "./deps.js";
import { setBounded } from "../domain/shared/bounded-map.js";

/** Options of {@link ClientAuthenticator}. */
export interface ClientAuthLimits {
  /** Failed secret checks a client may accumulate before it is refused (the bucket's size). */
  readonly failureBurst: number;
  /** How many failed checks the bucket forgives per minute (its refill rate). */
  readonly failuresPerMinute: number;
  /** Buckets kept in memory (least recently used dropped first); default 100 000. */
  readonly maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const failed = (message: string) => unauthenticated(message, { field: "client_secret", oauthCode: "invalid_client" });

/**
 * Client authentication (RFC 6749 §2.3.1) with a per-client token bucket over *failed* secret checks:
 * each failure takes a token, and a client whose bucket is empty is refused with RESOURCE_EXHAUSTED
 * before any scrypt work, so a guessed secret costs the attacker time and the ledger nothing. In
 * process: each command process keeps its own buckets (N processes allow N × the burst).
 * Successful checks take nothing, so a client that knows its secret is never slowed.
 */
export class ClientAuthenticator implements ClientAuthentication {
  readonly #buckets = new Map<string, Bucket>();
  readonly #limits: Required<ClientAuthLimits>;

  constructor(limits: ClientAuthLimits) {
    this.#limits = { maxClients: 100_000, ...limits };
  }

  async authenticate(client: ClientState, clientId: string, secret: string, now: number): Promise<void> {
    // Unknown and deleted clients fail like a wrong secret: the answer does not tell which.
    if (client.status === "unregistered" || client.status === "deleted") throw failed("client authentication failed");
    if (client.clientType === "public") {
      if (secret !== "") throw failed("a public client has no secret; send none");
      return;
    }
    const bucket = this.#refill(clientId, now);
    if (bucket.tokens < 1) {
      throw resourceExhausted("too many failed client authentications; retry later", { field: "client_id", oauthCode: "invalid_client" });
    }
    if (secret !== "" && (await this.#matches(client, secret, now))) return;
    bucket.tokens -= 1;
    throw failed(secret === "" ? "client_secret is required for a confidential client" : "client authentication failed");
  }

  async #matches(client: ClientState, secret: string, now: number): Promise<boolean> {
    if (client.secretHash !== null && (await verifySecret(secret, client.secretHash))) return true;
    const overlap = client.previousSecretHash !== null && client.previousSecretValidUntil !== null && now < client.previousSecretValidUntil;
    return overlap && (await verifySecret(secret, client.previousSecretHash ?? ""));
  }

  #refill(clientId: string, now: number): Bucket {
    const { failureBurst, failuresPerMinute, maxClients } = this.#limits;
    const existing = this.#buckets.get(clientId);
    const bucket = existing ?? { tokens: failureBurst, at: now };
    if (existing !== undefined) {
      bucket.tokens = Math.min(failureBurst, bucket.tokens + (Math.max(0, now - bucket.at) * failuresPerMinute) / 60_000);
      bucket.at = now;
      this.#buckets.delete(clientId); // re-inserted below: the map's order is least recently used first
    }
    setBounded(this.#buckets, clientId, bucket, maxClients);
    return bucket;
  }
}
