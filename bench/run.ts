// `npm run bench [-- <name>]`: runs one benchmark, introspection unless named.
//   npm run bench                  token introspection against a baseline (bench/introspection.ts)
//   npm run bench -- syn2mas       `mauth syn2mas migrate` of a large Synapse (bench/syn2mas.ts)
const BENCHMARKS: Record<string, string> = {
  introspection: './introspection.ts',
  syn2mas: './syn2mas.ts',
};

const name = process.argv[2] ?? 'introspection';
const module = BENCHMARKS[name];
if (!module) {
  process.stderr.write(`unknown benchmark ${JSON.stringify(name)}; one of: ${Object.keys(BENCHMARKS).join(', ')}\n`);
  process.exitCode = 2;
} else {
  // Each benchmark runs when it is loaded.
  await import(module);
}
