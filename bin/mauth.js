#!/usr/bin/env node
// Entry point installed as `mauth`; the compiled CLI lives in dist/ (built by `npm run build`, run by `prepare`).
import { main } from '../dist/cli/main.js';

await main(process.argv);
