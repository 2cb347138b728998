import { createHmac, randomUUID } from "node:crypto";
import { formatToken, TOKEN_RANDOM_BYTES, type TokenKind } from "../domain/shared/token-format.js";
import { randomBytesPooled } from "./random.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function base62(bytes: Uint8Array, length: number): string {
  let out = "";
  for (let i = 0; out.length < length; i++) {
    // Rejection sampling keeps every character uniform.
    const byte = bytes[i % bytes.length] as number;
    if (i >= bytes.length) throw new Error("not enough entropy for id");
    if (byte < 248) out += BASE62[byte % 62];
  }
  return out;
}

/** A fresh opaque token of `kind` from the CSPRNG. */
export const mintToken = (kind: TokenKind): string => formatToken(kind, randomBytesPooled(TOKEN_RANDOM_BYTES));

/** A random id like `tok_3fK9...` (22 base62 chars, ~131 bits). */
export const mintId = (prefix: string): string => `${prefix}_${base62(randomBytesPooled(32), 22)}`;

/** The same id for the same (key, seed): a retried request mints the ids of its first attempt. */
export const deriveId = (key: Buffer, prefix: string, seed: string): string =>
  `${prefix}_${base62(createHmac("sha256", key).update(prefix).update("\0").update(seed).digest(), 22)}`;

export const mintEventId = (): string => randomUUID();
