import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createKeyring, type HashKey, type Keyring } from "../crypto/keys.js";
import { generateSignerKey, parseSignerKey, type NoteSigner } from "../transparency/note.js";
import type { Config } from "./config.js";

function decodeKey(text: string): Buffer {
  const trimmed = text.trim();
  return /^[0-9a-fA-F]{64,}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
}

/**
 * Creates a dev key file (mode 0600) unless another process did first. The content is written to a
 * private temp file and linked into place, so a process starting at the same moment never reads a
 * half-written key: it either finds the whole file or creates its own and loses the link race.
 */
function createOnce(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, content, { mode: 0o600, flag: "wx" });
  try {
    linkSync(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temp);
  }
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** `id:key` (key base64 or hex), as GL_TOKEN_HASH_OLD_KEYS entries, GL_REQUEST_KEY and `keys/request.key` hold them. */
function parseIdKey(text: string, what: string): HashKey {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(":");
  const id = trimmed.slice(0, colon);
  if (colon < 0 || !KEY_ID.test(id)) throw new Error(`${what}: expected id:key`);
  return { id, secret: decodeKey(trimmed.slice(colon + 1)) };
}

/** Where the dev token-hash and request keys live under `<dataDir>/keys`. */
export const devKeyFiles = (config: Config): { legacy: string; dir: string; current: string; request: string } => {
  const keys = join(config.dataDir, "keys");
  return { legacy: join(keys, "token-hash.key"), dir: join(keys, "token-hash"), current: join(keys, "token-hash", "current"), request: join(keys, "request.key") };
};

/**
 * The dev token-hash keys: `keys/token-hash/<id>.key` with the current id in `keys/token-hash/current`,
 * plus the single key of earlier versions, `keys/token-hash.key`, read as GL_TOKEN_HASH_KEY_ID (it is
 * current until the first rotation). Current first.
 */
export function readDevTokenHashKeys(config: Config): { current: HashKey; older: HashKey[] } | undefined {
  const files = devKeyFiles(config);
  const keys = new Map<string, HashKey>();
  if (existsSync(files.legacy)) keys.set(config.tokenHashKeyId, { id: config.tokenHashKeyId, secret: decodeKey(readFileSync(files.legacy, "utf8")) });
  if (existsSync(files.dir)) {
    for (const name of readdirSync(files.dir).sort()) {
      const id = name.endsWith(".key") ? name.slice(0, -4) : undefined;
      if (id === undefined || !KEY_ID.test(id)) continue;
      if (keys.has(id)) throw new Error(`token-hash key id "${id}" is both ${files.legacy} (GL_TOKEN_HASH_KEY_ID) and ${join(files.dir, name)}`);
      keys.set(id, { id, secret: decodeKey(readFileSync(join(files.dir, name), "utf8")) });
    }
  }
  if (keys.size === 0) return undefined;
  const currentId = existsSync(files.current) ? readFileSync(files.current, "utf8").trim() : config.tokenHashKeyId;
  const current = keys.get(currentId);
  if (current === undefined) throw new Error(`the current token-hash key "${currentId}" (${files.current}) has no key file in ${files.dir}`);
  return { current, older: [...keys.values()].filter((key) => key.id !== currentId) };
}

/**
 * The keyring. Configured: GL_TOKEN_HASH_KEY (id GL_TOKEN_HASH_KEY_ID), older verifying keys from
 * GL_TOKEN_HASH_OLD_KEYS, the stable request key from GL_REQUEST_KEY (defaulting to the token-hash
 * key only while there are no older keys: after a rotation it must name the key ids were derived
 * from). For development, the keys under `<dataDir>/keys` (mode 0600, generated once, see
 * {@link readDevTokenHashKeys}); `keys/request.key` is seeded once with the token-hash key in use
 * then, so ledgers started before it existed keep deriving the same ids.
 */
export function loadKeyring(config: Config): Keyring {
  const configuredRequest = config.requestKey === undefined ? undefined : parseIdKey(config.requestKey, "GL_REQUEST_KEY");
  if (config.tokenHashKey !== undefined) {
    const current = { id: config.tokenHashKeyId, secret: decodeKey(config.tokenHashKey) };
    const older = (config.tokenHashOldKeys ?? "").split(",").filter((entry) => entry !== "").map((entry) => parseIdKey(entry, "GL_TOKEN_HASH_OLD_KEYS"));
    if (older.length > 0 && configuredRequest === undefined) {
      throw new Error(
        "GL_TOKEN_HASH_OLD_KEYS needs GL_REQUEST_KEY: set it to id:key of the token-hash key in use before the first rotation, so request ids and idempotency answers survive the rotation",
      );
    }
    return createKeyring(current, older, configuredRequest ?? current);
  }
  const files = devKeyFiles(config);
  let dev = readDevTokenHashKeys(config);
  if (dev === undefined) {
    createOnce(join(files.dir, `${config.tokenHashKeyId}.key`), randomBytes(32).toString("base64") + "\n");
    createOnce(files.current, config.tokenHashKeyId + "\n");
    dev = readDevTokenHashKeys(config);
    if (dev === undefined) throw new Error(`no token-hash key in ${files.dir} after creating one`);
  }
  if (configuredRequest === undefined && !existsSync(files.request)) {
    createOnce(files.request, `${dev.current.id}:${dev.current.secret.toString("base64")}\n`);
  }
  const stable = configuredRequest ?? parseIdKey(readFileSync(files.request, "utf8"), files.request);
  return createKeyring(dev.current, dev.older, stable);
}

/**
 * `grant-ledger keys rotate`, dev keys only: writes a new key `keys/token-hash/<id>.key` and makes it
 * current; every older key keeps verifying (delete its file once its tokens have expired). Running
 * servers pick it up when restarted. Returns the new and the still-verifying ids.
 */
export function rotateDevTokenHashKey(config: Config, requestedId?: string): { current: string; verifying: string[] } {
  if (config.tokenHashKey !== undefined) throw new Error("GL_TOKEN_HASH_KEY is set: rotate it in your secret store (see README, Security: key rotation)");
  const before = loadKeyring(config);
  const ids = new Set(before.verifying.map((key) => key.id));
  let id = requestedId;
  if (id === undefined) {
    let n = Math.max(0, ...[...ids].map((known) => /^k(\d+)$/.exec(known)?.[1]).filter((d) => d !== undefined).map(Number)) + 1;
    while (ids.has(`k${n}`)) n++;
    id = `k${n}`;
  }
  if (!KEY_ID.test(id)) throw new Error(`key id "${id}": 1-32 letters, digits, _ or -`);
  if (ids.has(id)) throw new Error(`key id "${id}" already exists`);
  const files = devKeyFiles(config);
  createOnce(join(files.dir, `${id}.key`), randomBytes(32).toString("base64") + "\n");
  // The current pointer is replaced whole (temp file + rename): a starting server reads the old or the new id.
  const temp = `${files.current}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, id + "\n", { mode: 0o600, flag: "wx" });
  renameSync(temp, files.current);
  return { current: id, verifying: [id, ...before.verifying.map((key) => key.id)] };
}

/** The checkpoint origin line: GL_CHECKPOINT_ORIGIN, else `grant-ledger/<stream>`. */
export const checkpointOrigin = (config: Config): string => config.checkpointOrigin ?? `grant-ledger/${config.stream}`;

/** Where the dev checkpoint key lives: the signer key, and its verifier key next to it for auditors. */
export const checkpointKeyFiles = (config: Config): { signer: string; verifier: string } => ({
  signer: join(config.dataDir, "keys", "checkpoint.key"),
  verifier: join(config.dataDir, "keys", "checkpoint.vkey"),
});

/**
 * The Ed25519 checkpoint signer from GL_CHECKPOINT_SIGNING_KEY, or for development a key named after
 * the origin generated once into `<dataDir>/keys/checkpoint.key` (mode 0600), with its verifier key
 * written to `checkpoint.vkey` for auditors.
 */
export function loadCheckpointSigner(config: Config): NoteSigner {
  const files = checkpointKeyFiles(config);
  if (config.checkpointSigningKey === undefined && !existsSync(files.signer)) {
    createOnce(files.signer, generateSignerKey(checkpointOrigin(config)) + "\n");
  }
  const signer = findCheckpointSigner(config) as NoteSigner;
  if (config.checkpointSigningKey === undefined) writeFileSync(files.verifier, signer.verifierKey + "\n", { mode: 0o644 });
  return signer;
}

/** The configured or dev checkpoint signer, without creating one; undefined when there is none. */
export function findCheckpointSigner(config: Config): NoteSigner | undefined {
  if (config.checkpointSigningKey !== undefined) return parseSignerKey(config.checkpointSigningKey);
  const file = checkpointKeyFiles(config).signer;
  return existsSync(file) ? parseSignerKey(readFileSync(file, "utf8")) : undefined;
}
