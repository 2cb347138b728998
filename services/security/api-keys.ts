import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { hashToken, type Keyring } from "../crypto/keys.js";
import { mintId, mintToken } from "../crypto/mint.js";
import { parseTokenKind } from "../domain/shared/token-format.js";
import { CALLER_IDENTITY } from "./policy.js";

const entrySchema = z
  .object({
    id: z.string().regex(/^ak_[A-Za-z0-9]{22}$/),
    caller: z.string().regex(CALLER_IDENTITY),
    /** `<keyId>:<HMAC-SHA-256>` of the key with the token-hash keyring: the key itself is never stored. */
    hash: z.string().min(1),
    createdAt: z.string(),
    revokedAt: z.string().nullable().default(null),
  })
  .strict();

/** `<dataDir>/callers.json`: the API keys callers authenticate with (hashes only). */
export const callersFileSchema = z.object({ version: z.literal(1), apiKeys: z.array(entrySchema) }).strict();
export type CallersFile = z.infer<typeof callersFileSchema>;
export type ApiKeyEntry = z.infer<typeof entrySchema>;

export function readCallersFile(file: string): CallersFile {
  if (!existsSync(file)) return { version: 1, apiKeys: [] };
  const parsed = callersFileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid callers file ${file}: ${issue?.path.map(String).join(".") ?? ""}: ${issue?.message ?? ""}`);
  }
  return parsed.data;
}

/** Written whole to a temp file then renamed: a reader never sees half a file. Mode 0600. */
function writeCallersFile(file: string, content: CallersFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600 });
  renameSync(temp, file);
}

/** Mints a `glk_` API key for `caller`, stores only its keyed hash, and returns the key (shown once). */
export function createApiKey(file: string, keyring: Keyring, caller: string, now = new Date()): { id: string; key: string } {
  if (!CALLER_IDENTITY.test(caller)) throw new Error(`caller "${caller}": letters, digits and ._:@/+=- only (at most 255)`);
  const key = mintToken("api_key");
  const id = mintId("ak");
  const content = readCallersFile(file);
  content.apiKeys.push({ id, caller, hash: hashToken(keyring.current, key), createdAt: now.toISOString(), revokedAt: null });
  writeCallersFile(file, content);
  return { id, key };
}

/** Revokes API keys by id, or every key of a caller; returns how many it revoked. */
export function revokeApiKeys(file: string, idOrCaller: string, now = new Date()): number {
  const content = readCallersFile(file);
  let revoked = 0;
  for (const entry of content.apiKeys) {
    if ((entry.id === idOrCaller || entry.caller === idOrCaller) && entry.revokedAt === null) {
      entry.revokedAt = now.toISOString();
      revoked++;
    }
  }
  if (revoked > 0) writeCallersFile(file, content);
  return revoked;
}

/**
 * Verifies presented API keys against the callers file, re-read when it changes (checked at most
 * every `reloadMs`), so a created or revoked key takes effect without a restart.
 */
export class ApiKeyVerifier {
  readonly #file: string;
  readonly #keyring: Keyring;
  readonly #reloadMs: number;
  readonly #onError: (error: unknown) => void;
  #byHash = new Map<string, ApiKeyEntry>();
  #checkedAt = -Infinity;
  #signature = "";

  constructor(file: string, keyring: Keyring, options: { reloadMs?: number; onError?: (error: unknown) => void } = {}) {
    this.#file = file;
    this.#keyring = keyring;
    this.#reloadMs = options.reloadMs ?? 1000;
    this.#onError = options.onError ?? (() => undefined);
    this.#reload(true, Date.now());
  }

  /** The caller identity of a valid, unrevoked key; undefined for anything else. */
  verify(key: string, now: number): string | undefined {
    if (now - this.#checkedAt >= this.#reloadMs) this.#reload(false, now);
    // Format and checksum first: garbage costs no HMAC.
    if (parseTokenKind(key) !== "api_key") return undefined;
    for (const hashKey of this.#keyring.verifying) {
      const entry = this.#byHash.get(hashToken(hashKey, key));
      if (entry !== undefined) return entry.revokedAt === null ? entry.caller : undefined;
    }
    return undefined;
  }

  #reload(initial: boolean, now: number): void {
    this.#checkedAt = now;
    let text: string;
    try {
      text = existsSync(this.#file) ? readFileSync(this.#file, "utf8") : "";
    } catch (error) {
      this.#onError(error);
      return;
    }
    if (!initial && text === this.#signature) return;
    try {
      const content = text === "" ? { version: 1 as const, apiKeys: [] } : callersFileSchema.parse(JSON.parse(text));
      this.#byHash = new Map(content.apiKeys.map((entry) => [entry.hash, entry]));
      this.#signature = text;
    } catch (error) {
      // A broken edit keeps the keys we had (fail as before, not open); start-up fails loudly.
      if (initial) throw new Error(`invalid callers file ${this.#file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      this.#onError(error);
    }
  }
}
