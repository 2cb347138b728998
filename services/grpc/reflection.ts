import { readFileSync } from "node:fs";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";

/** `buf build` output (npm run gen): FileDescriptorSets exactly as buf compiled them. */
const DESCRIPTOR_SETS = ["grantledger.binpb", "health.binpb"].map((name) => new URL(`../gen/${name}`, import.meta.url));

/** Splits a FileDescriptorSet (`repeated FileDescriptorProto file = 1`) into each file's bytes. */
export function splitDescriptorSet(set: Uint8Array): Uint8Array[] {
  const files: Uint8Array[] = [];
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = set[pos++];
      if (byte === undefined) throw new Error("truncated descriptor set");
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < set.length) {
    const tag = varint();
    if (tag !== 0x0a) throw new Error(`unexpected field tag ${tag} in descriptor set`);
    const length = varint();
    files.push(set.subarray(pos, pos + length));
    pos += length;
  }
  return files;
}

/**
 * gRPC server reflection (v1 and v1alpha), so `buf curl --reflect` and grpcurl work without the
 * .proto files. It is fed buf's descriptors directly: descriptors rebuilt by proto-loader come out
 * under the wrong file names, which reflection clients reject.
 */
export function addReflection(server: Server): void {
  const fileDescriptorProtos = DESCRIPTOR_SETS.flatMap((url) => splitDescriptorSet(readFileSync(url)));
  const definition = { descriptors: { fileDescriptorProtos } };
  new ReflectionService(definition as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
