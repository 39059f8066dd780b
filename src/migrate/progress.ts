// Progress of a migration in: a bar redrawn in place on a terminal, otherwise a log line every few
// seconds (and one when a phase ends), so that a long run in a container log still shows life.
// Counts are kept per phase: rows migrated, and rows skipped with the reason why.

export interface ProgressOutput {
  /** Where the bar is drawn (stderr); `isTTY` decides between the bar and log lines. */
  stream: { isTTY?: boolean; write(text: string): unknown };
  /** A periodic line, when the output is not a terminal. */
  log(fields: Record<string, unknown>, message: string): void;
  /** Milliseconds between two log lines (default 5000). */
  intervalMs?: number;
}

export interface PhaseResult {
  name: string;
  migrated: number;
  skipped: Record<string, number>;
}

const BAR_WIDTH = 30;
const REDRAW_MS = 100;

export class Phase {
  migrated = 0;
  readonly skipped: Record<string, number> = {};

  constructor(
    readonly name: string,
    readonly estimate: number,
    private readonly onChange: () => void,
  ) {}

  add(count = 1): void {
    this.migrated += count;
    this.onChange();
  }

  skip(reason: string, count = 1): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + count;
    this.onChange();
  }

  get done(): number {
    return this.migrated + Object.values(this.skipped).reduce((a, b) => a + b, 0);
  }

  result(): PhaseResult {
    return { name: this.name, migrated: this.migrated, skipped: { ...this.skipped } };
  }
}

export class Progress {
  private current: Phase | undefined;
  private readonly results: PhaseResult[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDraw = 0;

  constructor(private readonly out: ProgressOutput) {}

  private get tty(): boolean {
    return this.out.stream.isTTY === true;
  }

  /** Starts a phase; `estimate` (rows to read, approximate) sizes the bar. */
  start(name: string, estimate: number): Phase {
    this.end();
    const phase = new Phase(name, estimate, () => this.draw());
    this.current = phase;
    if (this.tty) this.draw(true);
    else {
      this.out.log({ phase: name, estimate }, `migrating ${name}`);
      this.timer = setInterval(() => this.tick(), this.out.intervalMs ?? 5000);
      this.timer.unref();
    }
    return phase;
  }

  /** Ends the current phase, recording its counts. */
  end(): void {
    const phase = this.current;
    if (!phase) return;
    this.current = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) {
      this.draw(true, phase);
      this.out.stream.write('\n');
    } else {
      this.out.log({ phase: phase.name, migrated: phase.migrated, skipped: phase.skipped }, `${phase.name}: done`);
    }
    this.results.push(phase.result());
  }

  /** A step without rows (the final move), announced the same way. */
  note(message: string): void {
    this.end();
    if (this.tty) this.out.stream.write(`${message}\n`);
    else this.out.log({}, message);
  }

  phases(): PhaseResult[] {
    this.end();
    return [...this.results];
  }

  /** The periodic log line (the timer calls it; exposed so that tests need not wait). */
  tick(): void {
    const phase = this.current;
    if (!phase) return;
    const total = Math.max(phase.estimate, phase.done);
    const percent = total > 0 ? ` (~${((100 * phase.done) / total).toFixed(1)}%)` : '';
    this.out.log({ phase: phase.name, done: phase.done, estimate: phase.estimate }, `migrating ${phase.name}: ${phase.done}/~${total}${percent}`);
  }

  private draw(force = false, phase = this.current): void {
    if (!this.tty || !phase) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const total = Math.max(phase.estimate, phase.done, 1);
    const filled = Math.round((BAR_WIDTH * phase.done) / total);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
    this.out.stream.write(`\r\x1b[K${phase.name.padEnd(22)} [${bar}] ${phase.done}/${total}`);
  }
}

/** The summary printed at the end: one line per phase. */
export function summaryLines(results: PhaseResult[], dryRun: boolean): string[] {
  const lines = [dryRun ? 'Dry run: nothing was written. The migration would have moved:' : 'Migrated:'];
  for (const r of results) {
    const skipped = Object.entries(r.skipped)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([why, n]) => `${n} ${why}`);
    lines.push(`  ${r.name.padEnd(24)} ${String(r.migrated).padStart(9)}${skipped.length ? `  (skipped: ${skipped.join(', ')})` : ''}`);
  }
  return lines;
}
