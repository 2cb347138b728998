import { createHmac, hkdfSync } from "node:crypto";

/** A keyed-hash key with its id, so hashes say which key made them and keys can rotate. */
export interface HashKey {
  readonly id: string;
  readonly secret: Buffer;
}

/**
 * The secrets a ledger process holds. Token hashes are keyed (HMAC-SHA-256) so a stolen read
 * model or log cannot be brute-forced offline without the key; the other keys are derived from
 * the current one with HKDF so an operator manages one secret per rotation.
 */
export interface Keyring {
  /** The key new hashes are made with. */
  readonly current: HashKey;
  /** Every key that still verifies (current first): old tokens stay valid until they expire. */
  readonly verifying: readonly HashKey[];
  /** AES-256 key sealing idempotency outcomes (copies of issued secrets) outside the log. */
  readonly outcomeKey: Buffer;
  /** HMAC key deriving ids and msgIds from request ids, so a retry mints the same ids. */
  readonly requestKey: Buffer;
}

const derive = (secret: Buffer, purpose: string): Buffer =>
  Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `grant-ledger ${purpose}`, 32));

export function createKeyring(current: HashKey, older: readonly HashKey[] = []): Keyring {
  if (current.secret.length < 32) throw new Error(`token hash key "${current.id}" must be at least 32 bytes`);
  return {
    current,
    verifying: [current, ...older.filter((key) => key.id !== current.id)],
    outcomeKey: derive(current.secret, "outcome sealing"),
    requestKey: derive(current.secret, "request ids"),
  };
}

/** `<keyId>:<base64url HMAC-SHA-256(token)>`: what events and read models hold instead of a token. */
export const hashToken = (key: HashKey, token: string): string =>
  `${key.id}:${createHmac("sha256", key.secret).update(token).digest("base64url")}`;
