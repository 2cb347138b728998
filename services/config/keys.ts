import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createKeyring, type Keyring } from "../crypto/keys.js";
import type { Config } from "./config.js";

function decodeKey(text: string): Buffer {
  const trimmed = text.trim();
  return /^[0-9a-fA-F]{64,}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
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
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  }
  return createKeyring({ id: config.tokenHashKeyId, secret: decodeKey(readFileSync(file, "utf8")) });
}
