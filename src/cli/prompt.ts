// Questions on the terminal for interactive commands (`mauth manage register-user` without
// `--yes`): plain answers through node:readline, passwords without echo. Only used when both
// stdin and stdout are terminals; scripts get a clear refusal instead of a hang.
import { emitKeypressEvents } from 'node:readline';
import { createInterface } from 'node:readline/promises';

export class PromptAborted extends Error {
  override readonly name = 'PromptAborted';
  constructor() {
    super('aborted');
  }
}

export function interactive(): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}

/** One line of text; Ctrl-C or Ctrl-D aborts. */
export async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  let aborted!: () => void;
  const closed = new Promise<never>((_resolve, reject) => (aborted = () => reject(new PromptAborted())));
  closed.catch(() => {});
  // Only our own listener goes: readline's own 'close' handler detaches it from stdin.
  rl.once('close', aborted);
  rl.once('SIGINT', () => rl.close());
  try {
    return (await Promise.race([rl.question(question), closed])).trim();
  } finally {
    rl.off('close', aborted);
    rl.close();
  }
}

/** Yes or no, `fallback` on a bare Enter. */
export async function confirm(question: string, fallback: boolean): Promise<boolean> {
  for (;;) {
    const answer = (await ask(`${question} ${fallback ? '[Y/n]' : '[y/N]'} `)).toLowerCase();
    if (answer === '') return fallback;
    if (['y', 'yes'].includes(answer)) return true;
    if (['n', 'no'].includes(answer)) return false;
  }
}

/** A secret typed without echo: the terminal is put in raw mode and shows nothing. */
export async function askHidden(question: string): Promise<string> {
  const { stdin, stdout } = process;
  // Echo goes off before the question shows: an answer typed ahead must not appear either.
  emitKeypressEvents(stdin);
  stdin.setRawMode(true);
  stdin.resume();
  stdout.write(question);
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onKey = (text: string | undefined, key: { name?: string; ctrl?: boolean; meta?: boolean } | undefined) => {
        if (key?.ctrl && (key.name === 'c' || key.name === 'd')) {
          stdin.off('keypress', onKey);
          reject(new PromptAborted());
        } else if (key?.name === 'return' || key?.name === 'enter') {
          stdin.off('keypress', onKey);
          resolve(value);
        } else if (key?.name === 'backspace') {
          value = [...value].slice(0, -1).join('');
        } else if (text && !key?.ctrl && !key?.meta && text >= ' ') {
          value += text;
        }
      };
      stdin.on('keypress', onKey);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stdout.write('\n');
  }
}
