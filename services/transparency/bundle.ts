import { z } from "zod";
import { leafHash, verifyInclusion, type MerkleTree } from "./merkle.js";
import { NoteError, openCheckpoint, type NoteVerifier } from "./note.js";

export const PROOF_BUNDLE_FORMAT = "grant-ledger/inclusion-proof/v1";

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

/**
 * An offline-verifiable proof that one message is in the log: the message body exactly as stored,
 * its RFC 9162 inclusion proof to a checkpoint's tree, and that checkpoint's signed note. Checking
 * it needs only the checkpoint verifier key. `event` repeats the body decoded, for readers; it is
 * not trusted (the check re-reads `body`).
 */
export const proofBundleSchema = z.object({
  format: z.literal(PROOF_BUNDLE_FORMAT),
  stream: z.string(),
  subject: z.string(),
  sequence: z.number().int().positive(),
  /** Standard base64 of the message body bytes. */
  body: base64,
  event: z.unknown(),
  treeSize: z.number().int().positive(),
  /** Base64 sibling hashes, leaf first (RFC 9162 §2.1.3). */
  inclusionProof: z.array(base64),
  checkpoint: z.object({ sequence: z.number().int().positive(), note: z.string() }),
});

export type ProofBundle = z.infer<typeof proofBundleSchema>;

/** Builds the bundle for message `sequence` against the checkpoint (`checkpointSeq`, `note`, `treeSize`). */
export function buildProofBundle(args: {
  stream: string;
  subject: string;
  sequence: number;
  body: Uint8Array;
  tree: MerkleTree;
  checkpoint: { seq: number; treeSize: number; note: string };
}): ProofBundle {
  const { sequence, tree, checkpoint } = args;
  let event: unknown;
  try {
    event = JSON.parse(Buffer.from(args.body).toString("utf8"));
  } catch {
    event = null;
  }
  return {
    format: PROOF_BUNDLE_FORMAT,
    stream: args.stream,
    subject: args.subject,
    sequence,
    body: Buffer.from(args.body).toString("base64"),
    event,
    treeSize: checkpoint.treeSize,
    inclusionProof: tree.inclusionProof(sequence - 1, checkpoint.treeSize).map((h) => h.toString("base64")),
    checkpoint: { sequence: checkpoint.seq, note: checkpoint.note },
  };
}

export type ProofCheck =
  | { readonly ok: true; readonly origin: string; readonly sequence: number; readonly treeSize: number; readonly signedBy: string }
  | { readonly ok: false; readonly reason: string };

/** Checks a bundle (parsed JSON) with only verifier keys: signature, sizes, and the inclusion proof. */
export function checkProofBundle(input: unknown, verifiers: readonly NoteVerifier[]): ProofCheck {
  const parsed = proofBundleSchema.safeParse(input);
  if (!parsed.success) return { ok: false, reason: `not a ${PROOF_BUNDLE_FORMAT} bundle: ${parsed.error.issues[0]?.message ?? "invalid"}` };
  const bundle = parsed.data;
  let checkpoint;
  try {
    checkpoint = openCheckpoint(bundle.checkpoint.note, verifiers);
  } catch (error) {
    if (error instanceof NoteError) return { ok: false, reason: `checkpoint: ${error.message}` };
    throw error;
  }
  if (checkpoint.treeSize !== bundle.treeSize) {
    return { ok: false, reason: `the bundle says tree size ${bundle.treeSize}, the signed checkpoint ${checkpoint.treeSize}` };
  }
  if (bundle.sequence > checkpoint.treeSize) return { ok: false, reason: `sequence ${bundle.sequence} is not covered by a tree of ${checkpoint.treeSize}` };
  const leaf = leafHash(Buffer.from(bundle.body, "base64"));
  const proof = bundle.inclusionProof.map((h) => Buffer.from(h, "base64"));
  if (!verifyInclusion(leaf, bundle.sequence - 1, checkpoint.treeSize, proof, checkpoint.rootHash)) {
    return { ok: false, reason: `the inclusion proof does not lead from message ${bundle.sequence} to the signed root` };
  }
  return { ok: true, origin: checkpoint.origin, sequence: bundle.sequence, treeSize: checkpoint.treeSize, signedBy: checkpoint.signedBy.key };
}
