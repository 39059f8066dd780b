// The limits every claims template renders under, so that no template (a mistake, or one copied
// from a forum) can hang the event loop or allocate without bound. Claims themselves are not
// limited: they are the provider's response, already bounded by the HTTP client.
export const TEMPLATE_LIMITS = Object.freeze({
  /** Lookups, calls, filters, operators, assignments (a loop pass makes about ten) and copied values. */
  steps: 200_000,
  milliseconds: 1000,
  /** Any string a template makes, and the whole output. */
  stringLength: 65_536,
  /** Any list a template makes (`range`, `split`, `batch`, …). */
  items: 10_000,
  /** Data nested deeper than this is not visible to templates. */
  depth: 64,
});

/** A template went over one of the limits above; reported like any other template error. */
export class TemplateLimitError extends Error {}

export function tooLong(): TemplateLimitError {
  return new TemplateLimitError(`a string longer than ${TEMPLATE_LIMITS.stringLength} characters exceeds the limit`);
}

export function tooMany(): TemplateLimitError {
  return new TemplateLimitError(`a list of more than ${TEMPLATE_LIMITS.items} items exceeds the limit`);
}

/** What a value costs to walk through: long strings and lists cost more than one step. */
export function sizeCost(value: unknown): number {
  const size = typeof value === 'string' || Array.isArray(value) ? value.length : 0;
  return Math.floor(size / 64);
}
