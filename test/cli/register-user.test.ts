// `mauth manage register-user` with mas-cli's options (repeatable -e, -a/-A, -d, -y,
// --ignore-password-complexity), its checks with the homeserver, its refusal to ask without a
// terminal, and its questions on a terminal (a pseudo-terminal made by util-linux `script`).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, ROOT, type MauthInstance } from '../support/mauth-process.js';

const SERVER_NAME = 'register.test';
const STRONG = 'Correct-Horse-Battery-Staple-42';

let hs: HomeserverDouble;
let mauth: MauthInstance;
let sql: postgres.Sql | undefined;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret });
  if (process.env.MAUTH_TEST_DATABASE !== 'embedded') sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
});

after(async () => {
  await sql?.end();
  await mauth?.drop();
  await hs?.stop();
});

async function account(username: string) {
  if (!sql) return undefined;
  const [user] = await sql<{ id: string; can_request_admin: boolean; display_name: string | null }[]>`SELECT * FROM users WHERE username = ${username}`;
  if (!user) return undefined;
  const emails = await sql<{ email: string; verified_at: Date | null }[]>`SELECT email, verified_at FROM user_emails WHERE user_id = ${user.id} ORDER BY email`;
  return { ...user, emails: emails.map((e) => `${e.email}${e.verified_at ? '' : ' (unverified)'}`) };
}

test('-e repeats, -a makes an admin, -d sets the display name, @user:server is taken as its localpart', async () => {
  const made = await mauth.cli('manage', 'register-user', `@Erika:${SERVER_NAME}`, '-p', STRONG, '-e', 'erika@mail.test', '-e', 'erika@work.test', '-a', '-d', 'Erika M.', '-y');
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, new RegExp(`^created @erika:${SERVER_NAME} \\(id [0-9A-Z]{26}\\) with admin rights`));
  const erika = await account('erika');
  if (erika) {
    assert.deepEqual(erika.emails, ['erika@mail.test', 'erika@work.test']);
    assert.equal(erika.can_request_admin, true);
    assert.equal(erika.display_name, 'Erika M.');
  }
  const plain = await mauth.cli('manage', 'register-user', 'fritz', '-p', STRONG, '-A', '-y');
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stdout, /admin/);
  const admins = await mauth.cli('manage', 'list-admin-users');
  assert.match(admins.stdout, /^erika\t/m);
  assert.doesNotMatch(admins.stdout, /^fritz\t/m);
});

test('a weak password is refused unless --ignore-password-complexity', async () => {
  const weak = await mauth.cli('manage', 'register-user', 'gina', '-p', 'password1', '-y');
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /too weak.*--ignore-password-complexity/);
  if (sql) assert.equal(await account('gina'), undefined, 'nothing created');
  const forced = await mauth.cli('manage', 'register-user', 'gina', '-p', 'password1', '--ignore-password-complexity', '-y');
  assert.equal(forced.code, 0, forced.stderr);
});

test('a name the homeserver does not allow, or one taken here, is refused before anything is written', async () => {
  hs.addUser('squatter');
  const taken = await mauth.cli('manage', 'register-user', 'squatter', '-p', STRONG, '-y');
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, new RegExp(`@squatter:${SERVER_NAME} is not available on the homeserver \\(M_USER_IN_USE\\)`));
  assert.ok(hs.calls.some((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === 'squatter'));
  if (sql) assert.equal(await account('squatter'), undefined);
  const again = await mauth.cli('manage', 'register-user', 'fritz', '-p', STRONG, '-y');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /a user named fritz already exists/);
});

test('without a terminal it refuses to ask: --yes is needed, and --yes needs the username', async () => {
  const noYes = await mauth.cli('manage', 'register-user', 'hugo', '-p', STRONG);
  assert.equal(noYes.code, 1);
  assert.match(noYes.stderr, /refusing to create an account without --yes: there is no terminal/);
  const noName = await mauth.cli('manage', 'register-user', '-p', STRONG, '--yes');
  assert.equal(noName.code, 1);
  assert.match(noName.stderr, /--yes needs the username/);
  if (sql) assert.equal(await account('hugo'), undefined);
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test('on a terminal it asks for what is missing, hides the password and shows the command without questions', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  const password = 'Hidden-Terminal-Passphrase-93';
  const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', import.meta.resolve('tsx'), `${ROOT}test/support/mauth-cli.ts`, ...mauth.configFiles.flatMap((f) => ['-c', f]), 'manage', 'register-user'];
  const child = spawn('script', ['-qfec', command.map(quote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Each prompt gets its answer once it has appeared (after the previous one).
  const dialogue: [string, string][] = [
    ['Username: ', 'ivan'],
    ['Password (empty for none): ', password],
    ['Repeat the password: ', password],
    ['E-mail address (empty when done): ', 'ivan@mail.test'],
    ['E-mail address (empty when done): ', 'ivan@work.test'],
    ['E-mail address (empty when done): ', ''],
    ['Display name (empty for none): ', 'Ivan'],
    ['May this user request admin access? [y/N] ', 'y'],
    ['Create this user? [y/N] ', 'y'],
  ];
  let output = '';
  let seen = 0;
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    while (dialogue.length > 0 && output.indexOf(dialogue[0][0], seen) >= 0) {
      const [prompt, answer] = dialogue.shift()!;
      seen = output.indexOf(prompt, seen) + prompt.length;
      child.stdin.write(`${answer}\r`);
    }
  });
  const code = await exited;
  assert.equal(code, 0, output);
  assert.deepEqual(dialogue, [], `questions not asked:\n${output}`);
  assert.ok(!output.includes(password), 'the password is never echoed');
  assert.match(output, /mauth manage register-user --yes ivan --email ivan@mail\.test --email ivan@work\.test --display-name Ivan --password "\$PASSWORD" --admin/);
  assert.match(output, new RegExp(`created @ivan:${SERVER_NAME} \\(id [0-9A-Z]{26}\\) with admin rights`));
  const ivan = await account('ivan');
  if (ivan) {
    assert.deepEqual(ivan.emails, ['ivan@mail.test', 'ivan@work.test']);
    assert.equal(ivan.display_name, 'Ivan');
    assert.equal(ivan.can_request_admin, true);
  }
});
