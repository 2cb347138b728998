import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createKeyring, type Keyring } from "../crypto/keys.js";
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

/**
 * The keyring from GL_TOKEN_HASH_KEY, or for development a key generated once into
 * `<dataDir>/keys/token-hash.key` (mode 0600) so tokens survive restarts.
 */
export function loadKeyring(config: Config): Keyring {
  if (config.tokenHashKey !== undefined) {
    return createKeyring({ id: config.tokenHashKeyId, secret: decodeKey(config.tokenHashKey) });
  }
  const file = join(config.dataDir, "keys", "token-hash.key");
  if (!existsSync(file)) createOnce(file, randomBytes(32).toString("base64") + "\n");
  return createKeyring({ id: config.tokenHashKeyId, secret: decodeKey(readFileSync(file, "utf8")) });
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
