import { createHmac } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { authenticateClient, type OAuthCommandDeps } from "../commands/index.js";
import type { Keyring } from "../crypto/keys.js";
import { isDomainError } from "../domain/shared/errors.js";
import { certificateIdentity, type Caller, type CallerGate } from "../grpc/index.js";
import type { ReadModel } from "../grpc/read-model.js";
import { invalidClient } from "./errors.js";
import { presentedClient } from "./client-auth.js";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

/** Options of {@link ResourceServerAuth}. */
export interface ResourceServerAuthOptions {
  readonly commands: OAuthCommandDeps;
  readonly readModel: Pick<ReadModel, "getClient">;
  readonly keyring: Keyring;
  readonly gate: CallerGate;
  /** How long a verified client secret is remembered (ms); default 60 s. */
  readonly verifiedTtlMs?: number;
  /** Verified secrets remembered at most; default 10 000. */
  readonly maxVerified?: number;
}

/**
 * Who calls the introspection endpoint (RFC 7662 §2.1: the endpoint MUST authenticate its callers):
 * an API key (`Authorization: Bearer glk_…`), the client credentials of a registered confidential
 * client (Basic or client_secret_post; its identity is its client_id), or a client certificate under
 * mTLS. Then the caller security of every RPC decides: policy (default deny outside --insecure-dev),
 * resources, per-caller rate limit — CallerGate.authorize, not a copy of it.
 *
 * A client secret is verified by the commands' own check (scrypt, with its failed-check budget);
 * a success is remembered under a keyed hash of (client, the client's read-model sequence, secret),
 * so any later client event (secret rotated, suspended, deleted) makes the memo miss, and a
 * suspended or deleted client is refused from the read model before the memo is consulted. A
 * previous secret kept for a rotation overlap is remembered no longer than the overlap lasts.
 */
export class ResourceServerAuth {
  readonly #options: Required<ResourceServerAuthOptions>;
  readonly #verified = new Map<string, number>();

  constructor(options: ResourceServerAuthOptions) {
    this.#options = { verifiedTtlMs: 60_000, maxVerified: 10_000, ...options };
  }

  async authenticate(request: IncomingMessage, form: ReadonlyMap<string, string>, method: string, now: number): Promise<Caller> {
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
      await this.#verifySecret(client.clientId, client.clientSecret, now);
      return gate.authorize(client.clientId, "oauth_client", method, now);
    }
    const socket = request.socket as Partial<TLSSocket>;
    if (socket.authorized === true && typeof socket.getPeerCertificate === "function") {
      const identity = certificateIdentity({ sslPeerCertificate: socket.getPeerCertificate() });
      if (identity !== undefined) return gate.authorize(identity, "mtls", method, now);
    }
    throw invalidClient("caller authentication is required: client credentials, an API key, or a client certificate");
  }

  async #verifySecret(clientId: string, secret: string, now: number): Promise<void> {
    const view = this.#options.readModel.getClient(clientId);
    if (view?.status !== "active" || view.clientType !== "confidential") throw invalidClient("client authentication failed");
    const key = createHmac("sha256", this.#options.keyring.stable.secret).update(`${clientId}\0${view.seq}\0${secret}`).digest("base64url");
    const until = this.#verified.get(key);
    if (until !== undefined && now < until) return;
    let state;
    try {
      state = await authenticateClient(this.#options.commands, { now: () => now }, clientId, secret);
    } catch (error) {
      this.#verified.delete(key);
      throw isDomainError(error) && error.kind === "unauthenticated" ? invalidClient("client authentication failed") : error;
    }
    const overlapEnds = state.previousSecretValidUntil !== null && now < state.previousSecretValidUntil ? state.previousSecretValidUntil : Infinity;
    this.#verified.delete(key);
    this.#verified.set(key, Math.min(now + this.#options.verifiedTtlMs, overlapEnds));
    if (this.#verified.size > this.#options.maxVerified) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
  }
}
