import { createCipheriv, createDecipheriv } from "node:crypto";
import { randomBytesPooled } from "./random.js";

/**
 * AES-256-GCM sealing for the copies of issued secrets kept to answer retried requests: they sit
 * outside the log, encrypted, and expire with the dedupe window. `context` is bound as associated
 * data so a sealed value cannot be replayed under another key.
 */
export function seal(key: Buffer, context: string, plaintext: Uint8Array): Uint8Array {
  const iv = randomBytesPooled(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Throws when the value was tampered with or sealed under another key or context. */
export function unseal(key: Buffer, context: string, sealed: Uint8Array): Uint8Array {
  const data = Buffer.from(sealed);
  const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, 12));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(data.subarray(12, 28));
  return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]);
}
