// What a policy says when it refuses: MAS's violation object. `code` names the rule for the
// callers that act on a particular one (MAS's codes where MAS has them); `msg` is for logs and
// protocol errors, not for pages, which say it in their own words.
export interface Violation {
  msg: string;
  code?: string;
  /** The form field at fault (registration). */
  field?: string;
  /** The scope refused (authorization grant). */
  scope?: string;
  /** Sessions to end before a new one fits (`too-many-sessions`). */
  need_to_remove?: number;
}
