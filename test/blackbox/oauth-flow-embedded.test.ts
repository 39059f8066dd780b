// The same black-box OAuth suite, with the server on its embedded (PGlite) database: what
// `npm start` gives a first-time operator must behave like production.
process.env.MAUTH_TEST_DATABASE = 'embedded';
await import('./oauth-flow.test.js');
