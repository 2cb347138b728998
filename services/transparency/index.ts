export { Checkpointer, CHECKPOINT_AGGREGATE } from "./checkpointer.js";
export { buildProofBundle, checkProofBundle, PROOF_BUNDLE_FORMAT } from "./bundle.js";
export { EMPTY_ROOT, HASH_SIZE, leafHash, MerkleTree, nodeHash, verifyConsistency, verifyInclusion } from "./merkle.js";
export {
  formatCheckpointBody,
  generateSignerKey,
  NoteError,
  openCheckpoint,
  openNote,
  parseCheckpointBody,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "./note.js";
export { readRaw, streamHead } from "./raw-log.js";
export { describeReport, LogVerifier, verifyLog } from "./verify.js";

export type { CheckpointerOptions, CheckpointRecord } from "./checkpointer.js";
export type { ProofBundle, ProofCheck } from "./bundle.js";
export type { CheckpointBody, NoteErrorReason, NoteSigner, NoteVerifier, OpenedNote } from "./note.js";
export type { ReadRawOptions } from "./raw-log.js";
export type { Break, BreakKind, VerifyOptions, VerifyReport } from "./verify.js";
