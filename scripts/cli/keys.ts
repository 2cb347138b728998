import { loadConfig } from "../../services/config/config.js";
import { parseArgs } from "node:util";
import { loadKeyring, rotateDevTokenHashKey } from "../../services/config/keys.js";
import { callersFile } from "../../services/app/security.js";
import { createApiKey, revokeApiKeys } from "../../services/security/api-keys.js";

const fail = (message: string, code: number): number => {
  process.stderr.write(`${message}\n`);
  return code;
};

/**
 * `grant-ledger keys create-api-key <caller>`: mints an API key for `caller`, stores only its keyed
 * hash in the callers file (`<dataDir>/callers.json` or GL_CALLERS_FILE) and prints the key once.
 */
export async function keysCreateApiKey(args: string[]): Promise<number> {
  const [caller, ...extra] = args;
  if (caller === undefined || extra.length > 0 || caller.startsWith("-")) return fail("usage: grant-ledger keys create-api-key <caller>", 2);
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 2);
  }
  try {
    const file = callersFile(config);
    const { id, key } = createApiKey(file, loadKeyring(config), caller);
    process.stderr.write(`API key ${id} for caller "${caller}" stored (hash only) in ${file}; it is shown once:\n`);
    process.stdout.write(`${key}\n`);
    return Promise.resolve(0);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 1);
  }
}

/** `grant-ledger keys revoke-api-key <key id | caller>`: revokes one key, or every key of a caller. */
export async function keysRevokeApiKey(args: string[]): Promise<number> {
  const [target, ...extra] = args;
  if (target === undefined || extra.length > 0) return fail("usage: grant-ledger keys revoke-api-key <key id | caller>", 2);
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 2);
  }
  const revoked = revokeApiKeys(callersFile(config), target);
  if (revoked === 0) return fail(`no active API key matches "${target}"`, 1);
  process.stdout.write(`revoked ${revoked} API key(s); running servers notice within a second\n`);
  return Promise.resolve(0);
}

const ENV_ROTATION = `GL_TOKEN_HASH_KEY is set, so the keys live in your secret store; rotate there:
  1. GL_REQUEST_KEY=<id>:<key> of the key request ids were derived from (the token-hash key before
     your first rotation); it never changes again.
  2. GL_TOKEN_HASH_OLD_KEYS=<old id>:<old key>[,...]  (the key being replaced, plus any still needed)
  3. GL_TOKEN_HASH_KEY=<new key, 32+ random bytes, base64>  GL_TOKEN_HASH_KEY_ID=<new id>
  4. Restart every server; drop an old key once the longest-lived token hashed with it has expired.
`;

/**
 * \`grant-ledger keys rotate [--id ID]\`: makes a new dev token-hash key current; the old ones keep
 * verifying. Request ids and outcome sealing use the stable request key, so retries spanning the
 * rotation are answered as before.
 */
export async function keysRotate(args: string[]): Promise<number> {
  let id: string | undefined;
  let config;
  try {
    id = parseArgs({ args, options: { id: { type: "string" } }, strict: true, allowPositionals: false }).values.id;
    config = loadConfig(process.env);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 2);
  }
  if (config.tokenHashKey !== undefined) return fail(ENV_ROTATION, 2);
  try {
    const rotated = rotateDevTokenHashKey(config, id);
    process.stdout.write(
      `token-hash key ${rotated.current} is now current; verifying: ${rotated.verifying.join(", ")}. Restart servers to hash new tokens with it.\n`,
    );
    return Promise.resolve(0);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), 1);
  }
}
