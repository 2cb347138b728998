import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { authenticateClient, type OAuthCommandDeps } from "../commands/index.js";
import { keyedHmac, type Keyring } from "../crypto/keys.js";
import { isDomainError } from "../domain/shared/errors.js";
import { certificateIdentity, type Caller, type CallerGate, type Freshness, type ReadModel } from "../grpc/index.js";
import { invalidClient } from "./errors.js";
import { presentedClient } from "./client-auth.js";
import { setBounded } from "../domain/shared/bounded-map.js";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/** Options of {@link ResourceServerAuth}. */
export interface ResourceServerAuthOptions {
  readonly commands: OAuthCommandDeps;
  readonly readModel: Pick<ReadModel, "getClient">;
  /** How far the read model has applied the log: an unchanged position means an unchanged client. */
  readonly freshness: Pick<Freshness, "appliedSeq">;
  readonly keyring: Keyring;
  readonly gate: CallerGate;
  /** How long a verified client secret is remembered (ms); default 60 s. */
  readonly verifiedTtlMs?: number;
  /** Verified secrets remembered at most; default 10 000. */
  readonly maxVerified?: number;
}

/** A remembered successful secret check. */
interface Verified {
  /** Epoch ms after which the secret is checked again (scrypt). */
  readonly until: number;
  /** The client's read-model sequence when checked: any client event since changes it. */
  readonly clientSeq: number;
  /** The read model's applied sequence when the client row was last seen unchanged. */
  seenAt: number;
}

/**
 * Who calls the introspection endpoint (RFC 7662 §2.1: the endpoint MUST authenticate its callers):
 * an API key (`Authorization: Bearer glk_…`), the client credentials of a registered, active,
 * confidential client (Basic or client_secret_post; its identity is its client_id), or a client
 * certificate under mTLS. Then the caller security of every RPC decides: policy (default deny
 * outside --insecure-dev), resources, per-caller rate limit — CallerGate.authorize, not a copy.
 *
 * A client secret is verified by the commands' own check (scrypt, with its failed-check budget).
 * A success is remembered (under a keyed hash of client and secret) for at most a minute, and only
 * while the client's row in the read model is unchanged: when the read model has applied anything
 * since the row was last seen, the row is read again, and any client event (secret rotated,
 * suspended, deleted) sends the caller back through the full check. A previous secret kept for a
 * rotation overlap is remembered no longer than the overlap lasts.
 */
export class ResourceServerAuth {
  readonly #options: Required<ResourceServerAuthOptions>;
  readonly #verified = new Map<string, Verified>();
  readonly #pending = new Map<string, Promise<void>>();

  constructor(options: ResourceServerAuthOptions) {
    this.#options = { verifiedTtlMs: 60_000, maxVerified: 10_000, ...options };
  }

  /**
   * The caller, synchronously when nothing needs waiting for (an API key, a certificate, a
   * remembered secret), else once the secret is checked. `appliedSeq`: the read model's position
   * as read by the caller in this same synchronous step (one read per request); read here if absent.
   */
  authenticate(request: IncomingMessage, form: ReadonlyMap<string, string>, method: string, now: number, appliedSeq?: number): Caller | Promise<Caller> {
    const { gate } = this.#options;
    const bearer = BEARER.exec(request.headers.authorization ?? "");
    if (bearer?.[1] !== undefined) {
      const identity = gate.verifyApiKey(bearer[1], now);
      if (identity === undefined) throw invalidClient("invalid API key");
      return gate.authorize(identity, "api_key", method, now);
    }
    if (request.headers.authorization !== undefined || form.has("client_id")) {
      const client = presentedClient(request, form);
      if (client.clientSecret === "") throw invalidClient("a resource server authenticates with a client secret");
      const verified = this.#verifySecret(client.clientId, client.clientSecret, now, appliedSeq);
      if (verified === undefined) return gate.authorize(client.clientId, "oauth_client", method, now);
      return verified.then(() => gate.authorize(client.clientId, "oauth_client", method, now));
    }
    const socket = request.socket as Partial<TLSSocket>;
    if (socket.authorized === true && typeof socket.getPeerCertificate === "function") {
      const identity = certificateIdentity({ sslPeerCertificate: socket.getPeerCertificate() });
      if (identity !== undefined) return gate.authorize(identity, "mtls", method, now);
    }
    throw invalidClient("caller authentication is required: client credentials, an API key, or a client certificate");
  }

  /** Undefined when the secret is remembered as verified (no wait); else the check to wait for. */
  #verifySecret(clientId: string, secret: string, now: number, appliedSeq: number | undefined): Promise<void> | undefined {
    const key = keyedHmac(this.#options.keyring.stable.secret).update(`${clientId}\0${secret}`).digest("base64url");
    const entry = this.#verified.get(key);
    if (entry !== undefined && now < entry.until) {
      const applied = appliedSeq ?? this.#options.freshness.appliedSeq();
      if (applied === entry.seenAt) return undefined;
      const view = this.#options.readModel.getClient(clientId);
      if (view?.status === "active" && view.seq === entry.clientSeq) {
        entry.seenAt = applied;
        return undefined;
      }
    }
    this.#verified.delete(key);
    // Single flight: requests arriving while one check runs wait for it instead of each paying scrypt
    // (a resource server opening 100 connections at once would otherwise cost 100 checks).
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#check(key, clientId, secret, now).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #check(key: string, clientId: string, secret: string, now: number): Promise<void> {
    // Read before the row: an event projected after this point is noticed by the next request.
    const seenAt = this.#options.freshness.appliedSeq();
    const view = this.#options.readModel.getClient(clientId);
    // The aggregate decides, not the row: a row may lag the log either way (a client registered or
    // resumed a moment ago is not yet active there), and the token endpoint decides the same way.
    let state;
    try {
      state = await authenticateClient(this.#options.commands, { now: () => now }, clientId, secret);
    } catch (error) {
      throw isDomainError(error) && error.kind === "unauthenticated" ? invalidClient("client authentication failed") : error;
    }
    if (state.status !== "active" || state.clientType !== "confidential") throw invalidClient("client authentication failed");
    // Remembered only against a row that can show a later change; until the row exists, check again.
    if (view?.status !== "active") return;
    const overlapEnds = state.previousSecretValidUntil !== null && now < state.previousSecretValidUntil ? state.previousSecretValidUntil : Infinity;
    const verified = { until: Math.min(now + this.#options.verifiedTtlMs, overlapEnds), clientSeq: view.seq, seenAt };
    setBounded(this.#verified, key, verified, this.#options.maxVerified);
  }
}
