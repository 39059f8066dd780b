// The CLI entry for tests: the same main() as bin/mauth.js, run from source through tsx.
import { main } from '../../src/cli/main.js';

await main(process.argv);
