/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`), and self time per package/file,
 * as markdown tables: `node --import tsx scripts/bench/profile-top.ts <file.cpuprofile> [top] [last-seconds]`.
 * With last-seconds, only the samples of the profile's last seconds count (e.g. the measured load,
 * not the setup before it). "(idle)" samples never count.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { repoRoot } from "./lib/proc.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const [file, topArg, lastArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write("usage: profile-top.ts <file.cpuprofile> [top]\n");
  process.exit(2);
}
const top = Number(topArg ?? "25");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

// Self time per node: the time deltas of the samples that landed on it.
const selfUs = new Map<number, number>();
const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const from = lastArg === undefined ? -Infinity : profile.endTime - Number(lastArg) * 1e6;
let at = profile.startTime;
for (let i = 0; i < samples.length; i++) {
  const id = samples[i] as number;
  at += deltas[i] ?? 0;
  if (at < from || idle.has(id)) continue;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const place = (url: string): string => {
  if (url === "") return "(native/V8)";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") === true ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  if (path.startsWith("node:")) return path;
  return relative(repoRoot, path);
};

const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = place(url);
  const key = `${functionName || "(anonymous)"} — ${where}${url === "" ? "" : `:${lineNumber + 1}`}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byPlace.set(where, (byPlace.get(where) ?? 0) + us);
}

const table = (title: string, entries: Map<string, number>): string => {
  const rows = [...entries.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `| ${title} | self ms | % |`,
    "|---|---|---|",
    ...rows.map(([k, us]) => `| ${k.replaceAll("|", "\\|")} | ${(us / 1000).toFixed(0)} | ${((us * 100) / total).toFixed(1)} |`),
  ].join("\n");
};

process.stdout.write(
  `Profile ${file}: ${(total / 1000).toFixed(0)} ms sampled over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s\n\n` +
    `${table("function — file:line", byFunction)}\n\n${table("package / file", byPlace)}\n`,
);
