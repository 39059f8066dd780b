// `npm run bench [-- <name>]`: runs one benchmark, introspection unless named.
//   npm run bench                  token introspection, with and without the cache, against a baseline (bench/introspection.ts)
//   npm run bench -- refresh       the refresh-token grant against a one-transaction floor (bench/refresh.ts)
//   npm run bench -- login         password logins against an argon2id floor, and their effect on introspection (bench/login.ts)
//   npm run bench -- mixed         95 % introspection, 4 % refresh, 1 % login at a fixed rate (bench/mixed.ts)
//   npm run bench -- embedded      introspection on the embedded PGlite database (bench/embedded.ts)
//   npm run bench -- soak [--minutes N]  the mixed load for N minutes (default 10): RSS and event-loop lag (bench/soak.ts)
//   npm run bench -- syn2mas       `mauth syn2mas migrate` of a large Synapse (bench/syn2mas.ts)
const BENCHMARKS: Record<string, string> = {
  introspection: './introspection.ts',
  refresh: './refresh.ts',
  login: './login.ts',
  mixed: './mixed.ts',
  embedded: './embedded.ts',
  soak: './soak.ts',
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
