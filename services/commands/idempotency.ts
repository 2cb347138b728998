import { createHash, createHmac } from "node:crypto";
import { validationError } from "../domain/shared/errors.js";
import { seal, unseal } from "../crypto/sealed.js";
import type { OutcomeStore } from "../eventlog/outcomes.js";

interface Record<P, R> {
  /** Digest of the request, so a request_id reused for another request is refused, not confused. */
  fp: string;
  /** Values minted before the append (ids, secrets, tokens), so a retry re-decides with the same ones. */
  pending?: P;
  response?: R;
}

/** Thrown by {@link Idempotency.reserve} when a concurrent attempt of the same request has already answered it. */
export class AlreadyAnswered extends Error {
  constructor(readonly response: unknown) {
    super("request already answered by a concurrent attempt");
    this.name = "AlreadyAnswered";
  }
}

/** Stable digest of a request's fields (key order independent). */
export function fingerprint(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as { [key: string]: unknown })[k])]))
        : v;
  return createHash("sha256").update(JSON.stringify(canonical(value) ?? null)).digest("base64url");
}

/**
 * Same request_id, same outcome. JetStream's msgId dedupe guarantees one append per request; this
 * store keeps (sealed, outside the log, for the dedupe window) what is needed to answer a retry
 * exactly as the first attempt was answered, including secrets that only exist in that answer.
 */
export class Idempotency {
  constructor(
    private readonly store: OutcomeStore,
    private readonly sealingKey: Buffer,
    private readonly requestKey: Buffer,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** The msgId and store key of one caller's request: callers cannot collide with each other. */
  keyFor(actor: string, command: string, requestId: string): string {
    return createHmac("sha256", this.requestKey).update(`${actor}\u0000${command}\u0000${requestId}`).digest("base64url");
  }

  /** The recorded answer to this request, if it was answered; refuses a reused request_id. */
  async recall<P, R>(key: string, fp: string): Promise<{ pending?: P; response?: R } | undefined> {
    const sealed = await this.store.get(key);
    if (sealed === undefined) return undefined;
    const record = JSON.parse(Buffer.from(unseal(this.sealingKey, key, sealed)).toString("utf8")) as Record<P, R>;
    if (record.fp !== fp) {
      throw validationError("request_id was already used for a different request", { field: "request_id", oauthCode: "invalid_request" });
    }
    return record;
  }

  /**
   * Stores `pending` unless another attempt of the same request stored its own first; returns the
   * one that won, so concurrent retries mint nothing twice ({@link claim}, for commands that looked
   * for a recorded answer first).
   */
  async reserve<P>(key: string, fp: string, pending: P): Promise<P> {
    const claimed = await this.claim<P, unknown>(key, fp, pending);
    // The winning attempt already recorded its answer (which replaces the pending values): that
    // answer is this request's answer too.
    if ("response" in claimed) throw new AlreadyAnswered(claimed.response);
    return claimed.pending;
  }

  /**
   * One round trip for the common case, a request seen for the first time, where a {@link recall}
   * and then a create would take two: stores `pending` as the request's record unless it already
   * has one (first writer wins). Only when the key exists (a retry, or a concurrent attempt) is the record
   * read: its answer when it was answered, else the pending values of the attempt that won.
   * Refuses a request_id reused for a different request, as `recall` does.
   */
  async claim<P, R>(key: string, fp: string, pending: P): Promise<{ readonly pending: P } | { readonly response: R }> {
    // Twice: the record can expire (bucket TTL) between a refused create and the read.
    for (let tries = 0; tries < 2; tries++) {
      if (await this.store.create(key, this.#seal(key, { fp, pending } satisfies Record<P, never>))) return { pending };
      const existing = await this.recall<P, R>(key, fp);
      if (existing?.response !== undefined) return { response: existing.response };
      if (existing?.pending !== undefined) return { pending: existing.pending };
    }
    throw new Error("idempotency record vanished while claiming");
  }

  /** Records the answer; not awaited by callers, since the log already holds the effect. */
  remember<P, R>(key: string, fp: string, response: R, pending?: P): void {
    const record: Record<P, R> = pending === undefined ? { fp, response } : { fp, pending, response };
    this.store.put(key, this.#seal(key, record)).catch(this.onError);
  }

  /**
   * Keeps `value` sealed under `key` (first writer wins) for the outcome store's TTL, outside any
   * request: the refresh grace period keeps a rotation's successor tokens here, keyed by the consumed
   * token, so a retry of that token can be given them again.
   */
  async stash<V>(key: string, value: V): Promise<boolean> {
    return this.store.create(key, this.#seal(key, { stash: value }));
  }

  /** A value {@link stash}ed under `key`, while it lives. */
  async unstash<V>(key: string): Promise<V | undefined> {
    const sealed = await this.store.get(key);
    if (sealed === undefined) return undefined;
    return (JSON.parse(Buffer.from(unseal(this.sealingKey, key, sealed)).toString("utf8")) as { stash?: V }).stash;
  }

  /**
   * Takes one of `slots` numbered slots under `key` (each a first-writer-wins create): an exact,
   * cross-process budget, e.g. how many grace answers one consumed refresh token may get.
   */
  async claimSlot(key: string, slots: number): Promise<boolean> {
    for (let slot = 1; slot <= slots; slot++) {
      if (await this.stash(`${key}\u0000${slot}`, slot)) return true;
    }
    return false;
  }

  #seal(key: string, record: unknown): Uint8Array {
    return seal(this.sealingKey, key, Buffer.from(JSON.stringify(record)));
  }
}
