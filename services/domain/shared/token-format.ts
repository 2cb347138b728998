/**
 * Opaque token format: `<prefix>_<base62 random><base62 CRC32>`, as secret scanners expect
 * (GitHub-style). The checksum lets introspection reject garbage without a lookup. Pure: the
 * caller supplies the random bytes.
 */
export const TOKEN_PREFIXES = {
  access_token: "gla",
  refresh_token: "glr",
  authorization_code: "glc",
  client_secret: "gls",
  api_key: "glk",
} as const;

export type TokenKind = keyof typeof TOKEN_PREFIXES;

/** 32 random bytes = 256 bits, the floor DESIGN.md sets. */
export const TOKEN_RANDOM_BYTES = 32;
const RANDOM_CHARS = 43; // ceil(256 / log2(62))
const CHECKSUM_CHARS = 6; // ceil(32 / log2(62))
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LENGTH = RANDOM_CHARS + CHECKSUM_CHARS;
const KIND_BY_PREFIX = new Map<string, TokenKind>(
  Object.entries(TOKEN_PREFIXES).map(([kind, prefix]) => [prefix, kind as TokenKind]),
);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of an ASCII string. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function toBase62(value: bigint, width: number): string {
  let out = "";
  let v = value;
  while (v > 0n) {
    out = BASE62[Number(v % 62n)] + out;
    v /= 62n;
  }
  return out.padStart(width, "0");
}

/** The checksum's base62 digits with plain numbers: introspection runs this on every call. */
function checksumOf(head: string): string {
  let value = crc32(head);
  let out = "";
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out = (BASE62[value % 62] as string) + out;
    value = Math.floor(value / 62);
  }
  return out;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Builds a token of `kind` from `random` (at least {@link TOKEN_RANDOM_BYTES} bytes of CSPRNG output). */
export function formatToken(kind: TokenKind, random: Uint8Array): string {
  if (random.length !== TOKEN_RANDOM_BYTES) {
    throw new RangeError(`token randomness must be ${TOKEN_RANDOM_BYTES} bytes, got ${random.length}`);
  }
  const head = `${TOKEN_PREFIXES[kind]}_${toBase62(bytesToBigInt(random), RANDOM_CHARS)}`;
  return head + checksumOf(head);
}

const isBase62 = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!ok) return false;
  }
  return true;
};

/**
 * The token's kind when its prefix, length, alphabet and checksum are right; undefined otherwise.
 * Costs no I/O, so malformed input is rejected before any lookup.
 */
export function parseTokenKind(token: string): TokenKind | undefined {
  const underscore = token.indexOf("_");
  if (underscore < 0 || token.length !== underscore + 1 + BODY_LENGTH) return undefined;
  const kind = KIND_BY_PREFIX.get(token.slice(0, underscore));
  if (kind === undefined) return undefined;
  const body = token.slice(underscore + 1);
  if (!isBase62(body)) return undefined;
  const head = token.slice(0, token.length - CHECKSUM_CHARS);
  return token.endsWith(checksumOf(head)) ? kind : undefined;
}
