// Writes to stdout the licence of every package in the built files: those whose sources
// esbuild bundled (read from its metafile, argv[2]) and those copied whole (argv[3..]).
// Usage: node licenses.mjs <metafile> [package...]
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [metafile, ...copied] = process.argv.slice(2);
const names = new Set(copied);
for (const input of Object.keys(JSON.parse(readFileSync(metafile, "utf8")).inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) names.add(match[1]);
}

const sections = [...names].sort().map((name) => {
  const dir = join("node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!file) throw new Error(`${name}: no licence file`);
  const text = readFileSync(join(dir, file), "utf8").trim();
  return `${pkg.name} ${pkg.version} (${pkg.license})\n${"-".repeat(60)}\n${text}\n`;
});

process.stdout.write(
  "Licences of the third-party code in this directory (htmx.min.js, editor.js),\n" +
    "written by services/fengqiao/console/frontend/build.sh.\n\n" +
    sections.join("\n"),
);
