// The container deployment (Dockerfile, .dockerignore, docker-compose.yml) checked with what runs
// without a Docker daemon: both files parsed, every path they name looked up in the checkout, the
// generated configuration loaded with the compose environment, and the healthcheck commands run
// against a local /health. `docker compose config` runs only where the compose plugin is installed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import YAML from 'yaml';
import { checkConfig, generateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Dockerfile parsing

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, as the builder reads them. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && current === '')) continue;
    if (trimmed.endsWith('\\')) {
      current += `${trimmed.slice(0, -1)} `;
      continue;
    }
    current += trimmed;
    const match = /^(\S+)\s*(.*)$/s.exec(current.trim());
    if (match) instructions.push({ keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim() });
    current = '';
  }
  return instructions;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const as = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ image: words[0] as string, name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${instruction.keyword} before the first FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

interface Copy {
  from?: string;
  sources: string[];
  /** Absolute destination, WORKDIR applied. */
  destination: string;
}

function copiesOf(stage: Stage): Copy[] {
  const copies: Copy[] = [];
  let workdir = '/';
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, args);
    if (keyword !== 'COPY' && keyword !== 'ADD') continue;
    const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
    const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((word) => !word.startsWith('--'));
    assert.ok(paths.length >= 2, `${keyword} ${args}: needs a source and a destination`);
    copies.push({ from, sources: paths.slice(0, -1), destination: posix.resolve(workdir, paths.at(-1) as string) });
  }
  return copies;
}

/** The JSON (exec) form of ENTRYPOINT, CMD or HEALTHCHECK ... CMD. */
function execForm(args: string): string[] {
  const value: unknown = JSON.parse(args);
  assert.ok(Array.isArray(value) && value.every((item) => typeof item === 'string'), `${args}: not an exec-form list`);
  return value as string[];
}

function healthcheckCommand(args: string): string[] {
  const match = /(?:^|\s)CMD\s+(\[.*\])$/s.exec(args);
  assert.ok(match, `HEALTHCHECK ${args}: expected the exec form CMD ["node", ...] (slim has no shell tools such as curl)`);
  return execForm(match[1] as string);
}

const last = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1);

// ---------------------------------------------------------------------------------------------
// Images and .dockerignore

/** A tag that names a release (major.minor at least, `v` optional), or a digest. `latest`, `17`, none: moving. */
function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const name = image.split('/').at(-1) as string;
  const colon = name.indexOf(':');
  if (colon < 0) return false;
  return /^v?\d+\.\d+(\.\d+)?([-.][0-9A-Za-z.-]+)?$/.test(name.slice(colon + 1));
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
      if (pattern[i + 1] === '/') i += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether .dockerignore keeps `path` (or a folder above it) out of the build context. */
function isIgnored(path: string, patterns: string[]): boolean {
  assert.ok(!patterns.some((p) => p.startsWith('!')), 'exceptions (!) in .dockerignore are not handled by this check');
  const parts = posix.normalize(path).replace(/^\.\/|\/$/g, '').split('/');
  const prefixes = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  return patterns.some((pattern) => {
    const regex = globToRegExp(posix.normalize(pattern).replace(/^\/|\/$/g, ''));
    return prefixes.some((prefix) => regex.test(prefix));
  });
}

function dockerignore(): string[] {
  return read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

// ---------------------------------------------------------------------------------------------
// Compose

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  ports?: (string | { target?: number; published?: string | number; host_ip?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = () => YAML.parse(read('docker-compose.yml')) as ComposeFile;

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split('=')[0] as string, entry.slice(entry.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]));
}

interface Mount {
  type: 'bind' | 'volume';
  source: string;
  target: string;
  readOnly: boolean;
}

function mountsOf(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source, target, mode] = volume.split(':') as [string, string, string | undefined];
      const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
      return { type: bind ? 'bind' : 'volume', source, target, readOnly: mode?.split(',').includes('ro') ?? false };
    }
    assert.ok(volume.type === 'bind' || volume.type === 'volume', `volume type ${volume.type}: only bind and volume are checked`);
    return { type: volume.type, source: volume.source ?? '', target: volume.target ?? '', readOnly: volume.read_only === true };
  });
}

/** Container ports published to the host. */
function publishedPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((port) => Number(typeof port === 'string' ? port.split(':').at(-1)?.split('/')[0] : port.target));
}

/** Files the operator creates by following the documented steps; they are not in the checkout. */
const OPERATOR_FILES: Record<string, string> = {
  './config.yaml': 'docker compose run --rm mauth config generate > config.yaml',
};

// ---------------------------------------------------------------------------------------------
// The configuration the container runs with

async function generatedConfigWithComposeEnvironment(): Promise<{ config?: Config; errors: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'mauth-docker-'));
  try {
    const file = join(dir, 'config.yaml');
    await writeFile(file, await generateConfig());
    const env = environmentOf(compose().services.mauth as ComposeService);
    const result = await checkConfig({ files: [file], env: { ...env, MAUTH_CONFIG: file } });
    return { config: result.config, errors: result.errors.map((e) => `${e.key}: ${e.message}`) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function listenersServing(config: Config, resource: string) {
  return config.http.listeners.filter((listener) => listener.resources.some((r) => r.name === resource));
}

function bindHostPort(bind: { host?: string; port?: number; address?: string }): { host?: string; port?: number } {
  if (bind.address) {
    const match = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(bind.address);
    assert.ok(match, `bind address ${bind.address}`);
    return { host: match[1] ?? match[2], port: Number(match[3]) };
  }
  return { host: bind.host, port: bind.port };
}

const ALL_ADDRESSES = new Set([undefined, '::', '0.0.0.0']);

// ---------------------------------------------------------------------------------------------
// Running commands

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string; error?: Error }>((resolve) => {
    execFile(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, timeout: options.timeout ?? 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr, error: error ?? undefined });
    });
  });
}

/** A /health endpoint answering `status`; `undefined` URL means a port where nothing listens. */
async function healthServer(status: number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/health' ? status : 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, server };
}

async function closedPortUrl(): Promise<string> {
  const { url, server } = await healthServer(200);
  await new Promise((resolve) => server.close(resolve));
  return url;
}

/** Runs an exec-form healthcheck (`node -e ...`) with this Node, pointed at `url`. */
async function runHealthcheck(command: string[], url: string): Promise<number> {
  assert.equal(command[0], 'node', `healthcheck ${JSON.stringify(command)}: expected to run node (slim has no curl or wget)`);
  const result = await run(process.execPath, command.slice(1), { env: { ...process.env, MAUTH_HEALTHCHECK_URL: url }, timeout: 15_000 });
  return result.code;
}

// =============================================================================================
// Dockerfile

test('the Dockerfile builds in one stage and runs in another, every base image pinned to a release', () => {
  const stages = stagesOf(parseDockerfile(read('Dockerfile')));
  assert.ok(stages.length >= 2, `expected a multi-stage build, found ${stages.length} FROM`);
  for (const stage of stages) assert.ok(isPinned(stage.image), `FROM ${stage.image}: pin a release tag such as node:22.23.4-bookworm-slim`);
  const final = stages.at(-1)!;
  assert.match(final.image, /^node:22\.\d+\.\d+-(bookworm-|trixie-)?slim$/, 'the runtime stage runs on a pinned node:22 slim image');
});

test('the build stage compiles with the dev dependencies; the runtime gets production dependencies only', () => {
  const stages = stagesOf(parseDockerfile(read('Dockerfile')));
  const final = stages.at(-1)!;
  const copies = copiesOf(final);
  const stageNamed = (name: string | undefined) => stages.find((stage) => stage.name === name);
  const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');

  const dist = copies.find((copy) => copy.destination.endsWith('/dist'));
  assert.ok(dist?.from, 'the runtime stage copies dist/ from a build stage');
  const build = stageNamed(dist.from);
  assert.ok(build, `--from=${dist.from} names no stage`);
  assert.match(runs(build), /npm ci\b(?![^\n]*--omit=dev)/, 'the build stage installs every dependency (npm ci without --omit=dev)');
  assert.match(runs(build), /npm run build\b/, 'the build stage runs npm run build');

  const modules = copies.find((copy) => copy.destination.endsWith('/node_modules'));
  assert.ok(modules, 'the runtime stage gets node_modules');
  const depsStage = modules.from ? stageNamed(modules.from) : final;
  assert.ok(depsStage, `--from=${modules.from} names no stage`);
  assert.match(runs(depsStage), /npm ci\b[^\n]*--omit=dev/, 'node_modules comes from npm ci --omit=dev');
  assert.ok(!runs(final).includes('npm run build'), 'the runtime stage does not build');
});

test('with --ignore-scripts, every production dependency that has an install script is rebuilt on its own, as allowScripts permits', () => {
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { hasInstallScript?: boolean; dev?: boolean }> };
  const pkg = JSON.parse(read('package.json')) as { allowScripts?: Record<string, boolean> };
  const withScripts = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.hasInstallScript && !entry.dev)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  assert.ok(withScripts.includes('argon2'), 'argon2 (a native addon) is among them');

  const runs = stagesOf(parseDockerfile(read('Dockerfile')))
    .flatMap((stage) => stage.instructions)
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.args);
  const production = runs.find((args) => /npm ci\b[^\n]*--omit=dev/.test(args));
  assert.ok(production, 'a stage runs npm ci --omit=dev');
  if (!production.includes('--ignore-scripts')) return;
  for (const name of withScripts) {
    const allowed = pkg.allowScripts?.[name];
    // `false`: denied on purpose (telemetry such as @scarf/scarf), so it must not be rebuilt either.
    assert.ok(allowed === true || allowed === false, `${name} runs an install script but package.json allowScripts neither allows nor denies it`);
    if (allowed) assert.ok(production.includes(`npm rebuild ${name}`), `${name}: its install script is skipped by --ignore-scripts and never run (npm rebuild ${name})`);
    else assert.ok(!production.includes(`npm rebuild ${name}`), `${name}: denied in allowScripts, yet rebuilt`);
  }
});

test('the runtime stage runs as a non-root user', () => {
  const final = stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!;
  const user = last(final, 'USER')?.args;
  assert.ok(user, 'no USER in the runtime stage: the container would run as root');
  assert.doesNotMatch(user, /^(root|0)(:|$)/, `USER ${user} is root`);
});

test('the image runs `mauth` with its arguments: ENTRYPOINT ["mauth"], CMD ["server"], mauth on PATH', () => {
  const final = stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!;
  assert.deepEqual(execForm(last(final, 'ENTRYPOINT')?.args ?? 'null'), ['mauth']);
  assert.deepEqual(execForm(last(final, 'CMD')?.args ?? 'null'), ['server']);

  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
  const bin = copiesOf(final).find((copy) => !copy.from && copy.sources.includes(posix.dirname(pkg.bin.mauth as string)));
  assert.ok(bin, `the runtime stage copies ${posix.dirname(pkg.bin.mauth as string)}/`);
  const installed = posix.join(bin.destination, posix.basename(pkg.bin.mauth as string));
  const runs = final.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  assert.match(runs, new RegExp(`ln -sf? ${installed.replace(/[.]/g, '\\.')} /usr/(local/)?bin/mauth\\b`), `mauth on PATH points at ${installed}`);
});

test('the image exposes the port the generated configuration listens on, and has a HEALTHCHECK on /health', async () => {
  const final = stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!;
  const exposed = final.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
  const { config, errors } = await generatedConfigWithComposeEnvironment();
  assert.deepEqual(errors, []);
  const web = listenersServing(config!, 'human').flatMap((listener) => listener.binds.map(bindHostPort));
  assert.ok(web.length > 0, 'a listener serves the human pages');
  for (const bind of web) assert.ok(exposed.includes(bind.port as number), `EXPOSE ${exposed.join(' ')}: the web listener's port ${bind.port} is not exposed`);

  const healthcheck = last(final, 'HEALTHCHECK');
  assert.ok(healthcheck, 'no HEALTHCHECK in the runtime stage');
  assert.match(healthcheck.args, /\/health\b/);
});

test('every COPY source is in the checkout and in the build context, or comes from an earlier stage', () => {
  const stages = stagesOf(parseDockerfile(read('Dockerfile')));
  const ignored = dockerignore();
  stages.forEach((stage, index) => {
    for (const copy of copiesOf(stage)) {
      if (copy.from) {
        assert.ok(stages.slice(0, index).some((s) => s.name === copy.from), `COPY --from=${copy.from}: no earlier stage has that name`);
        continue;
      }
      for (const source of copy.sources) {
        assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: not in the checkout`);
        assert.ok(!isIgnored(source, ignored), `COPY ${source}: excluded from the build context by .dockerignore`);
      }
    }
  });
});

test('the runtime stage holds every folder the compiled code reads beside dist/ (templates, migrations, ...)', () => {
  // `new URL('../../templates/', import.meta.url)` in src/web/render.ts reads <app>/templates
  // once compiled to <app>/dist/web/render.js.
  const readAtRunTime = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir))) {
      const path = posix.join(dir, entry);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
        for (const match of read(path).matchAll(/new URL\(\s*'((?:\.\.\/)+[^']+?)\/?'\s*,\s*import\.meta\.url\s*\)/g)) {
          const compiled = posix.join('dist', posix.dirname(relative('src', path)));
          const target = posix.join(compiled, match[1] as string);
          assert.ok(!target.startsWith('..'), `${path} reads ${match[1]}, outside the application folder`);
          readAtRunTime.add(target.split('/')[0] as string);
        }
      }
    }
  };
  walk('src');
  // COPY of a folder to <app>/ would spill its contents there; only a file may be copied to <app>/.
  const isFile = (name: string) => existsSync(join(ROOT, name)) && statSync(join(ROOT, name)).isFile();
  assert.ok(readAtRunTime.has('templates') && readAtRunTime.has('migrations'), `found ${[...readAtRunTime].join(', ')}`);

  const copies = copiesOf(stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!);
  const dist = copies.find((copy) => copy.destination.endsWith('/dist'));
  assert.ok(dist, 'the runtime stage copies dist/');
  const app = posix.dirname(dist.destination);
  for (const folder of readAtRunTime) {
    assert.ok(
      // A folder is copied to <app>/<folder>; a single file (package.json) may go to <app>/ itself.
      copies.some((copy) => !copy.from && copy.sources.includes(folder) && (copy.destination === posix.join(app, folder) || (isFile(folder) && copy.destination === app))),
      `the compiled code reads ${folder}/ at ${posix.join(app, folder)}, which the runtime stage does not copy there`,
    );
  }
  assert.ok(copies.some((copy) => copy.sources.includes('package.json') && copy.destination.startsWith(app)), 'package.json ("type": "module") is copied beside dist/');
});

test('.dockerignore keeps dependencies, build output, local data, secrets and git out of the build context', () => {
  const patterns = dockerignore();
  for (const path of ['node_modules', 'dist', 'data', '.git', 'config.yaml', '.env', 'server.log']) {
    assert.ok(isIgnored(path, patterns), `${path} is sent to the builder`);
  }
  assert.ok(!isIgnored('src/cli/main.ts', patterns), 'the sources are sent to the builder');
});

// =============================================================================================
// docker-compose.yml

test('every compose image is pinned to a release; a built image has its own explicit tag', () => {
  for (const [name, service] of Object.entries(compose().services)) {
    assert.ok(service.image, `${name}: no image`);
    if (service.build) {
      assert.match(service.image, /^[a-z0-9._/-]+:(?!latest$)[\w.-]+$/, `${name}: the built image needs an explicit tag other than latest`);
    } else {
      assert.ok(isPinned(service.image), `${name}: ${service.image} is not pinned to a release`);
    }
  }
});

test('every build context, bind-mounted path and named volume in the compose file exists', () => {
  const file = compose();
  const declared = Object.keys(file.volumes ?? {});
  for (const [name, service] of Object.entries(file.services)) {
    if (service.build) {
      const context = typeof service.build === 'string' ? service.build : (service.build.context ?? '.');
      const dockerfile = typeof service.build === 'string' ? 'Dockerfile' : (service.build.dockerfile ?? 'Dockerfile');
      assert.ok(existsSync(join(ROOT, context, dockerfile)), `${name}: build context ${context} has no ${dockerfile}`);
    }
    for (const mount of mountsOf(service)) {
      if (mount.type === 'volume') {
        assert.ok(declared.includes(mount.source), `${name}: volume ${mount.source} is not declared under volumes:`);
      } else if (mount.source in OPERATOR_FILES) {
        assert.ok(read('docs/docker.md').includes(OPERATOR_FILES[mount.source] as string), `${name}: docs/docker.md does not say how ${mount.source} is created`);
      } else {
        assert.ok(existsSync(join(ROOT, mount.source)), `${name}: ${mount.source} does not exist`);
      }
    }
  }
});

test('PostgreSQL keeps its data in a named volume', () => {
  const file = compose();
  const postgres = Object.values(file.services).find((service) => service.image?.startsWith('postgres:'));
  assert.ok(postgres, 'no postgres service');
  const data = mountsOf(postgres).find((mount) => mount.target === '/var/lib/postgresql/data');
  assert.ok(data, 'nothing mounted on /var/lib/postgresql/data');
  assert.equal(data.type, 'volume');
  assert.ok(Object.keys(file.volumes ?? {}).includes(data.source), `volume ${data.source} is not declared under volumes:`);
});

test('the mauth service runs the image as built: its entrypoint, no npm or shell command, no source mount', () => {
  const service = compose().services.mauth;
  assert.ok(service, 'no mauth service');
  assert.ok(service.build, 'mauth is built from the Dockerfile');
  assert.equal(service.entrypoint, undefined, 'entrypoint is overridden, so `docker compose run --rm mauth config generate` would not run mauth');
  const command = [service.command ?? []].flat().join(' ');
  assert.doesNotMatch(command, /\b(sh|bash|npm|npx|node)\b/, `command "${command}" bypasses the image's entrypoint`);
  for (const mount of mountsOf(service)) {
    assert.ok(!(mount.type === 'bind' && ['.', './'].includes(mount.source)), 'the checkout is mounted into the container (npm would rewrite the host node_modules)');
  }
});

test('the mauth service reads ./config.yaml, mounted read-only where MAUTH_CONFIG points', () => {
  const service = compose().services.mauth!;
  const env = environmentOf(service);
  assert.ok(env.MAUTH_CONFIG, 'MAUTH_CONFIG is not set');
  const mount = mountsOf(service).find((m) => m.target === env.MAUTH_CONFIG);
  assert.ok(mount, `nothing is mounted at ${env.MAUTH_CONFIG}`);
  assert.equal(mount.source, './config.yaml');
  assert.ok(mount.readOnly, 'the configuration (it holds the secrets) is mounted writable');
});

test('the mauth service waits for a healthy PostgreSQL and has a healthcheck on /health', () => {
  const service = compose().services.mauth!;
  const dependsOn = service.depends_on;
  assert.ok(dependsOn && !Array.isArray(dependsOn), 'depends_on needs the long form to wait for health');
  assert.equal(dependsOn.postgres?.condition, 'service_healthy');
  assert.ok(service.healthcheck && !service.healthcheck.disable, 'no healthcheck');
  assert.match([service.healthcheck.test ?? []].flat().join(' '), /\/health\b/);
});

test('the generated configuration works unchanged with the compose environment: PostgreSQL, Mailpit, listeners', async () => {
  const file = compose();
  const { config, errors } = await generatedConfigWithComposeEnvironment();
  assert.deepEqual(errors, [], 'the generated configuration with the compose environment is refused');
  assert.ok(config);

  const database = new URL(config.database.uri ?? '');
  assert.ok(database.hostname in file.services, `database.uri names ${database.hostname}, not a compose service`);
  const postgres = environmentOf(file.services[database.hostname]!);
  assert.equal(decodeURIComponent(database.username), postgres.POSTGRES_USER);
  assert.equal(decodeURIComponent(database.password), postgres.POSTGRES_PASSWORD);
  assert.equal(database.pathname, `/${postgres.POSTGRES_DB}`);

  assert.equal(config.email.transport, 'smtp');
  assert.ok(config.email.hostname && config.email.hostname in file.services, `email.hostname ${config.email.hostname} is not a compose service`);
  assert.equal(config.email.port, 1025, "Mailpit's SMTP port");
  assert.equal(config.email.mode, 'plain');

  const published = publishedPorts(file.services.mauth!);
  const web = listenersServing(config, 'human').flatMap((listener) => listener.binds.map(bindHostPort));
  assert.ok(web.length > 0);
  for (const bind of web) {
    assert.ok(ALL_ADDRESSES.has(bind.host), `the web listener binds ${bind.host}: unreachable through the published port`);
    assert.ok(published.includes(bind.port as number), `the web listener's port ${bind.port} is not published (${published.join(', ')})`);
  }
  assert.equal(new URL(config.http.public_base).port, String(web[0]!.port), 'public_base points at the published port');
});

test("the healthchecks' default URL is where the generated configuration serves /health", async () => {
  const { config } = await generatedConfigWithComposeEnvironment();
  const final = stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!;
  const commands = [healthcheckCommand(last(final, 'HEALTHCHECK')?.args ?? ''), [compose().services.mauth!.healthcheck!.test ?? []].flat().slice(1)];
  const health = listenersServing(config!, 'health').flatMap((listener) => listener.binds.map(bindHostPort));
  for (const command of commands) {
    const url = /'(https?:\/\/[^']+)'/.exec(command.join(' '))?.[1];
    assert.ok(url, `no default URL in ${JSON.stringify(command)}`);
    const { hostname, port, pathname } = new URL(url);
    assert.equal(pathname, '/health');
    assert.ok(
      health.some((bind) => bind.port === Number(port) && (ALL_ADDRESSES.has(bind.host) || bind.host === hostname)),
      `${url}: the generated configuration serves health on ${JSON.stringify(health)}`,
    );
  }
});

test('the Dockerfile and compose healthchecks pass on a healthy /health and fail on a 503 or a closed port', async () => {
  const final = stagesOf(parseDockerfile(read('Dockerfile'))).at(-1)!;
  const fromDockerfile = healthcheckCommand(last(final, 'HEALTHCHECK')?.args ?? '');
  const fromCompose = [compose().services.mauth!.healthcheck!.test ?? []].flat();
  assert.equal(fromCompose[0], 'CMD', 'the compose healthcheck uses the exec form (CMD)');

  const healthy = await healthServer(200);
  const failing = await healthServer(503);
  try {
    const closed = await closedPortUrl();
    for (const [label, command] of [['Dockerfile', fromDockerfile], ['compose', fromCompose.slice(1)]] as const) {
      assert.equal(await runHealthcheck(command, healthy.url), 0, `${label}: healthy /health reported unhealthy`);
      assert.notEqual(await runHealthcheck(command, failing.url), 0, `${label}: a 503 from /health reported healthy`);
      assert.notEqual(await runHealthcheck(command, closed), 0, `${label}: a closed port reported healthy`);
    }
  } finally {
    healthy.server.close();
    failing.server.close();
  }
});

test('`mauth config generate` needs no configuration file: as `docker compose run --rm mauth config generate` runs it', async () => {
  // The container's environment: MAUTH_CONFIG names a file that does not exist yet (the shell
  // creates it empty for the redirection); the working directory holds no config.yaml.
  const cwd = await mkdtemp(join(tmpdir(), 'mauth-docker-cwd-'));
  try {
    const env = { ...process.env, ...environmentOf(compose().services.mauth!), MAUTH_CONFIG: join(cwd, 'missing', 'config.yaml') };
    const cli = ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/support/mauth-cli.ts')];
    const generated = await run(process.execPath, [...cli, 'config', 'generate'], { cwd, env, timeout: 60_000 });
    assert.equal(generated.code, 0, generated.stderr);
    assert.doesNotMatch(generated.stderr, /error/i);
    const parsed = YAML.parse(generated.stdout) as { secrets?: { encryption?: string } };
    assert.match(parsed.secrets?.encryption ?? '', /^[0-9a-f]{64}$/, 'stdout is a configuration with fresh secrets');

    const file = join(cwd, 'config.yaml');
    await writeFile(file, generated.stdout);
    const checked = await run(process.execPath, [...cli, 'config', 'check'], { cwd, env: { ...env, MAUTH_CONFIG: file }, timeout: 60_000 });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /config is valid/);
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});

// =============================================================================================
// With Docker, where it is installed

test('`docker compose config` accepts the compose file', async (t) => {
  const version = await run('docker', ['compose', 'version'], { timeout: 15_000 });
  if (version.code !== 0) {
    const reason = (version.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'no docker client' : (version.stderr.trim().split('\n')[0] ?? 'failed');
    t.skip(`the docker compose plugin is not available here (docker compose version: ${reason})`);
    return;
  }
  const rendered = await run('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--format', 'json'], { timeout: 30_000 });
  assert.equal(rendered.code, 0, rendered.stderr);
  const normalised = JSON.parse(rendered.stdout) as ComposeFile;
  assert.deepEqual(Object.keys(normalised.services).sort(), Object.keys(compose().services).sort());
  assert.equal(normalised.services.mauth?.image, compose().services.mauth?.image);
});
