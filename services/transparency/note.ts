import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and the C2SP tlog checkpoint
 * body they carry (https://c2sp.org/tlog-checkpoint):
 *
 * ```
 * <origin>\n<tree size, decimal>\n<base64 root hash>\n
 * \n
 * — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>\n
 * ```
 *
 * The signature covers the text up to and including its last newline (not the blank line). The key
 * id is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key). Keys use the Go
 * `golang.org/x/mod/sumdb/note` text forms, so standard tooling reads them:
 * verifier `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`, signer
 * `PRIVATE+KEY+<name>+<key id, 8 hex>+<base64(0x01 ‖ 32-byte seed)>`.
 */

const ALG_ED25519 = 0x01;
const SIGNATURE_PREFIX = "\u2014 ";
// DER prefixes that turn a raw 32-byte Ed25519 seed / public key into PKCS#8 / SPKI.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Why a note or key was rejected. */
export type NoteErrorReason = "malformed" | "unknown-key" | "bad-signature";

export class NoteError extends Error {
  readonly reason: NoteErrorReason;
  constructor(reason: NoteErrorReason, message: string) {
    super(message);
    this.name = "NoteError";
    this.reason = reason;
  }
}

const isKeyName = (name: string): boolean => name.length > 0 && !/[+\s\u2014]/u.test(name) && !/[\p{Cc}]/u.test(name);

function keyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash("sha256").update(name).update(Buffer.from([0x0a, ALG_ED25519])).update(publicKey).digest().subarray(0, 4);
}

const strictBase64 = (text: string): Buffer | undefined => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, "base64");
};

/** A public key that verifies notes signed by one name. */
export interface NoteVerifier {
  readonly name: string;
  /** 4 bytes. */
  readonly keyId: Buffer;
  /** The `<name>+<id>+<base64>` text form. */
  readonly key: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A private key that signs notes under one name. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: Buffer;
  /** The matching verifier key, in text form: hand it to auditors. */
  readonly verifierKey: string;
  sign(message: Uint8Array): Buffer;
}

function makeVerifier(name: string, publicKey: Buffer): NoteVerifier {
  const id = keyId(name, publicKey);
  const key: KeyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
  return {
    name,
    keyId: id,
    key: `${name}+${id.toString("hex")}+${Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]).toString("base64")}`,
    verify: (message, signature) => signature.length === 64 && verify(null, message, key, signature),
  };
}

/** Splits at the first `parts - 1` plus signs: the base64 key material may hold "+" itself. */
function splitKey(text: string, parts: number, what: string): string[] {
  const all = text.trim().split("+");
  if (all.length < parts) throw new NoteError("malformed", `${what} must have ${parts} "+"-separated fields`);
  return [...all.slice(0, parts - 1), all.slice(parts - 1).join("+")];
}

function keyMaterial(name: string, idHex: string, material: string, what: string): Buffer {
  if (!isKeyName(name)) throw new NoteError("malformed", `${what} has an invalid key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError("malformed", `${what} key id must be 8 lowercase hex digits`);
  const raw = strictBase64(material);
  if (raw === undefined || raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new NoteError("malformed", `${what} must hold 0x01 (Ed25519) and a 32-byte key in base64`);
  }
  return raw.subarray(1);
}

/** Parses a verifier key `<name>+<id>+<base64(0x01 ‖ public key)>`, checking its id. */
export function parseVerifierKey(text: string): NoteVerifier {
  const [name, idHex, material] = splitKey(text, 3, "a verifier key") as [string, string, string];
  const verifier = makeVerifier(name, keyMaterial(name, idHex, material, "a verifier key"));
  if (verifier.keyId.toString("hex") !== idHex) throw new NoteError("malformed", "the verifier key's id does not match its key");
  return verifier;
}

/** Parses a signer key `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`, checking its id. */
export function parseSignerKey(text: string): NoteSigner {
  const [p, k, name, idHex, material] = splitKey(text, 5, "a signer key") as [string, string, string, string, string];
  if (p !== "PRIVATE" || k !== "KEY") throw new NoteError("malformed", 'a signer key starts with "PRIVATE+KEY+"');
  const seed = keyMaterial(name, idHex, material, "a signer key");
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);
  const verifier = makeVerifier(name, Buffer.from(publicKey));
  if (verifier.keyId.toString("hex") !== idHex) throw new NoteError("malformed", "the signer key's id does not match its key");
  return { name, keyId: verifier.keyId, verifierKey: verifier.key, sign: (message) => sign(null, message, privateKey) };
}

/** A fresh Ed25519 signer key in text form. */
export function generateSignerKey(name: string): string {
  if (!isKeyName(name)) throw new NoteError("malformed", `invalid key name "${name}"`);
  const { privateKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_PREFIX.length);
  const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);
  const id = keyId(name, publicKey);
  return `PRIVATE+KEY+${name}+${id.toString("hex")}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString("base64")}`;
}

/** Newline-terminated, no blank line, and no ASCII control character other than newline. */
const textOk = (text: string): boolean =>
  text.endsWith("\n") && !text.includes("\n\n") && ![...text].some((c) => c !== "\n" && c.charCodeAt(0) < 0x20);

/** Signs `text` (newline-terminated, no blank line, no control characters but newline). */
export function signNote(text: string, signer: NoteSigner): string {
  if (!textOk(text)) throw new NoteError("malformed", "note text must end in a newline and hold no blank line or control character");
  const signature = Buffer.concat([signer.keyId, signer.sign(Buffer.from(text, "utf8"))]);
  return `${text}\n${SIGNATURE_PREFIX}${signer.name} ${signature.toString("base64")}\n`;
}

export interface OpenedNote {
  readonly text: string;
  /** The verifier whose signature checked out. */
  readonly signedBy: NoteVerifier;
}

/**
 * Verifies a signed note with any of `verifiers`: the first signature line whose (name, key id)
 * matches a verifier decides (a bad signature from a known key rejects the note, as the spec says).
 * Throws {@link NoteError}: `malformed`, `unknown-key` (no line from a known key), `bad-signature`.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new NoteError("malformed", "a signed note is text, a blank line, then signature lines");
  const text = note.slice(0, split + 1);
  if (!textOk(text)) throw new NoteError("malformed", "the note text is not valid note text");
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length === 0 || lines.length > 100) throw new NoteError("malformed", "a signed note has 1 to 100 signature lines");
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteError("malformed", "a signature line starts with an em dash and a space");
    const [name, b64, ...extra] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    const raw = b64 === undefined ? undefined : strictBase64(b64);
    if (name === undefined || !isKeyName(name) || raw === undefined || raw.length < 5 || extra.length > 0) {
      throw new NoteError("malformed", "a signature line is `— <name> <base64(key id ‖ signature)>`");
    }
    const id = raw.subarray(0, 4);
    const verifier = verifiers.find((v) => v.name === name && v.keyId.equals(id));
    if (verifier === undefined) continue;
    if (!verifier.verify(Buffer.from(text, "utf8"), raw.subarray(4))) {
      throw new NoteError("bad-signature", `the signature by ${name} (${id.toString("hex")}) does not verify`);
    }
    return { text, signedBy: verifier };
  }
  throw new NoteError("unknown-key", `no signature by a known key (signed by ${lines.map((l) => l.split(" ")[1]).join(", ")})`);
}

/** A tlog checkpoint body: origin, tree size, root hash (extension lines are kept, not interpreted). */
export interface CheckpointBody {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Buffer;
  readonly extensions: readonly string[];
}

export function formatCheckpointBody(origin: string, treeSize: number, rootHash: Uint8Array): string {
  if (origin === "" || origin.includes("\n")) throw new NoteError("malformed", "a checkpoint origin is one non-empty line");
  return `${origin}\n${treeSize}\n${Buffer.from(rootHash).toString("base64")}\n`;
}

export function parseCheckpointBody(text: string): CheckpointBody {
  const lines = text.split("\n");
  if (lines.pop() !== "" || lines.length < 3) throw new NoteError("malformed", "a checkpoint has an origin, a size and a root hash line");
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new NoteError("malformed", "the checkpoint tree size is not a decimal number");
  }
  const rootHash = strictBase64(root);
  if (origin === "" || rootHash === undefined || rootHash.length !== 32) throw new NoteError("malformed", "the checkpoint root hash is not 32 bytes of base64");
  return { origin, treeSize: Number(size), rootHash, extensions };
}

/** Opens a signed checkpoint note: signature first, then the body. */
export function openCheckpoint(note: string, verifiers: readonly NoteVerifier[]): CheckpointBody & { readonly signedBy: NoteVerifier } {
  const opened = openNote(note, verifiers);
  return { ...parseCheckpointBody(opened.text), signedBy: opened.signedBy };
}
