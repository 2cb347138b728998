import { createHmac, createSecretKey, hkdfSync, type Hmac, type KeyObject } from "node:crypto";

/** A keyed-hash key with its id, so hashes say which key made them and keys can rotate. */
export interface HashKey {
  readonly id: string;
  readonly secret: Buffer;
}

/**
 * The secrets a ledger process holds. Token hashes are keyed (HMAC-SHA-256) so a stolen read
 * model or log cannot be brute-forced offline without the key. The token-hash key rotates; the
 * request-side keys (msgIds, derived ids, outcome sealing, idempotency fingerprints) come from a
 * separate `stable` key that does not, so a retry that spans a rotation mints the same ids and gets
 * the same answer.
 */
export interface Keyring {
  /** The key new hashes are made with. */
  readonly current: HashKey;
  /** Every key that still verifies (current first): old tokens stay valid until they expire. */
  readonly verifying: readonly HashKey[];
  /**
   * The key that does not rotate with the token-hash key: idempotency fingerprints hash presented
   * secrets with it, and the two keys below are derived from it with HKDF.
   */
  readonly stable: HashKey;
  /** AES-256 key sealing idempotency outcomes (copies of issued secrets) outside the log. */
  readonly outcomeKey: Buffer;
  /** HMAC key deriving ids and msgIds from request ids, so a retry mints the same ids. */
  readonly requestKey: Buffer;
}

const derive = (secret: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `grant-ledger ${purpose}`, 32));

const checkLength = (key: HashKey, what: string): void => {
  if (key.secret.length < 32) throw new Error(`${what} "${key.id}" must be at least 32 bytes`);
};

/**
 * `stable` defaults to `current`: a ledger that never rotated derives exactly what it always did.
 * Once it rotates, `stable` must stay the key the request-side keys were derived from.
 */
export function createKeyring(current: HashKey, older: readonly HashKey[] = [], stable: HashKey = current): Keyring {
  checkLength(current, "token hash key");
  for (const key of older) checkLength(key, "token hash key");
  checkLength(stable, "request key");
  return {
    current,
    verifying: [current, ...older.filter((key) => key.id !== current.id)],
    stable,
    outcomeKey: derive(stable.secret, "outcome sealing"),
    requestKey: derive(stable.secret, "request ids"),
  };
}

const keyObjects = new WeakMap<Buffer, KeyObject>();

/**
 * HMAC-SHA-256 keyed with `secret`, through a KeyObject made once per key: createHmac with a raw
 * Buffer imports the key on every call, ~40 % of an HMAC of a token (1.7 µs vs 2.8 µs measured),
 * and introspection hashes on every request.
 */
export function keyedHmac(secret: Buffer): Hmac {
  let key = keyObjects.get(secret);
  if (key === undefined) {
    key = createSecretKey(secret);
    keyObjects.set(secret, key);
  }
  return createHmac("sha256", key);
}

/** `<keyId>:<base64url HMAC-SHA-256(token)>`: what events and read models hold instead of a token. */
export const hashToken = (key: HashKey, token: string): string => `${key.id}:${keyedHmac(key.secret).update(token).digest("base64url")}`;
