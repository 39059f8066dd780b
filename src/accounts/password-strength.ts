// Password strength with zxcvbn (`passwords.minimum_complexity`, 0–4, as MAS).
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

const zxcvbn = new ZxcvbnFactory({ dictionary, graphs: adjacencyGraphs });

export interface StrengthResult {
  score: number;
  ok: boolean;
  hint?: string;
}

export function checkStrength(password: string, minimum: number, userInputs: string[] = []): StrengthResult {
  const result = zxcvbn.check(password.slice(0, 256), userInputs.filter(Boolean));
  const hint = result.feedback.warning || result.feedback.suggestions[0] || undefined;
  return { score: result.score, ok: result.score >= minimum, hint: hint ?? undefined };
}
