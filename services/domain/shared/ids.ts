import { validationError } from "./errors.js";

/**
 * Aggregate ids become one token of a NATS subject (`ledger.<kind>.<id>`). Ids that are already safe
 * pass unchanged so subjects stay readable; anything else is `~` + base64url of its bytes, so `.`,
 * `*`, `>` or whitespace in a user id can never split a subject or turn it into a wildcard.
 */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const ENCODED_MARK = "~";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUE = new Map<string, number>([...BASE64URL].map((char, index) => [char, index]));

export function encodeSubjectToken(id: string): string {
  return SAFE_ID.test(id) ? id : ENCODED_MARK + toBase64Url(toWtf8(id));
}

/**
 * Inverse of {@link encodeSubjectToken}. Rejects anything `encodeSubjectToken` would not have
 * produced, including other spellings of the same id: two subjects for one aggregate would split its
 * history and defeat the per-subject concurrency check.
 */
export function decodeSubjectToken(token: string): string {
  if (SAFE_ID.test(token)) return token;
  if (token.startsWith(ENCODED_MARK)) {
    const bytes = fromBase64Url(token.slice(ENCODED_MARK.length));
    const id = bytes === undefined ? undefined : fromWtf8(bytes);
    if (id !== undefined && encodeSubjectToken(id) === token) return id;
  }
  throw validationError(`"${token}" is not an encoded aggregate id`);
}

/**
 * UTF-8, generalized to lone surrogates (WTF-8). TextEncoder would replace a lone surrogate with
 * U+FFFD, and two different ids must never share a subject.
 */
function toWtf8(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (cp >= 0xd800 && cp <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(bytes);
}

/**
 * Lenient by design: {@link decodeSubjectToken} re-encodes the result and compares, which rejects
 * truncated sequences, bad continuation bytes, overlong forms and out-of-range code points alike.
 */
function fromWtf8(bytes: Uint8Array): string | undefined {
  const codeUnits: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    const length = lead < 0x80 ? 1 : lead < 0xc0 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf8 ? 4 : 0;
    // A stray continuation byte or an invalid lead would otherwise never advance `i`.
    if (length === 0) return undefined;
    let cp = length === 1 ? lead : lead & (0xff >> (length + 1));
    for (let k = 1; k < length; k++) cp = (cp << 6) | ((bytes[i + k] ?? 0) & 0x3f);
    if (cp >= 0x10000) codeUnits.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    else codeUnits.push(cp);
    i += length;
  }
  let text = "";
  // Chunked: String.fromCharCode(...hugeArray) overflows the call stack.
  for (let start = 0; start < codeUnits.length; start += 4096) {
    text += String.fromCharCode(...codeUnits.slice(start, start + 4096));
  }
  return text;
}

/** RFC 4648 §5 without padding. */
function toBase64Url(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] as number;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const n = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    out += BASE64URL[(n >> 18) & 63];
    out += BASE64URL[(n >> 12) & 63];
    if (b1 !== undefined) out += BASE64URL[(n >> 6) & 63];
    if (b2 !== undefined) out += BASE64URL[n & 63];
  }
  return out;
}

/** Undefined for a character outside the alphabet; odd lengths and stray bits fail the caller's re-encode check. */
function fromBase64Url(text: string): Uint8Array | undefined {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const char of text) {
    const value = BASE64URL_VALUE.get(char);
    if (value === undefined) return undefined;
    acc = ((acc << 6) | value) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(bytes);
}
