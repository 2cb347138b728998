import { z } from "zod";

/**
 * Events of the log's own checkpoint stream, on subject `ledger.checkpoint.log`.
 *
 * `checkpoint.signed` commits to every message of the stream with sequence 1..treeSize (RFC 9162
 * Merkle tree, leaf = SHA-256(0x00 ‖ message body bytes)). `note` is the C2SP signed note (origin
 * line, tree size, base64 root hash, blank line, Ed25519 signature lines) and is the only part that
 * is trusted: `origin`, `treeSize` and `rootHash` repeat it for readers and must agree with it.
 * `lastLeafHash` (hex Merkle leaf hash of message treeSize) is an unsigned hint that lets a verifier tell where messages went missing or were added when a
 * root does not match. `blocks` (services/transparency/blocks.ts) are the Merkle hashes of aligned
 * blocks of the messages it newly covers: unsigned too, but a verifier checks them against the
 * signed root, then uses them to name which messages changed (two swapped ones included).
 */
export const checkpointEventSchemas = {
  "checkpoint.signed": z.object({
    origin: z.string().min(1),
    treeSize: z.number().int().nonnegative(),
    /** Standard base64 of the 32-byte root hash. */
    rootHash: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
    lastLeafHash: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    note: z.string().min(1),
    blocks: z
      .object({
        from: z.number().int().nonnegative(),
        size: z.number().int().positive(),
        hashes: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
      })
      .optional(),
  }),
} as const;

type Schemas = typeof checkpointEventSchemas;
export type CheckpointEventType = keyof Schemas;
export type CheckpointEvent = { [K in CheckpointEventType]: { type: K; data: z.infer<Schemas[K]> } }[CheckpointEventType];
