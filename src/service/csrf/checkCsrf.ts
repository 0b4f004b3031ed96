import { CsrfError } from './CsrfError.js';
import { csrfTokenMatches } from './csrfToken.js';
import { csrfNamesOf, type CsrfMode } from './csrfSettings.js';
import { originProblem, type OriginSource } from './originCheck.js';

/** Methods that must not change anything (RFC 9110 §9.2.1): never checked. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

/** What the check reads of a request (a `ServiceRequest` has it all). */
export interface CsrfRequest extends OriginSource {
  readonly method: string;
  readonly queryString: string;
  form(): Promise<{ getAll(name: string): string[] }>;
}

/** What the check knows of the request's session. */
export interface CsrfSession {
  /** The session's id when the request named a stored one; `undefined` for a new session. */
  storedId: string | undefined;
  /**
   * Ids the request presented that led to the stored session within the
   * rotation grace (`SessionImpl.formerIds`): a form made before the id
   * changed carries a token of one of them.
   */
  formerIds?: readonly string[] | undefined;
  /** The request carries the session cookie: a credential a browser adds by itself, even to a forged request. */
  cookie: boolean;
  /** The id came in the `PSOSessionHeader` header, which no other site can make a browser send. */
  header: boolean;
}

/**
 * Refuses a forged request before the handler runs. Safe methods and
 * requests whose session id came in a header pass. Then, in `'on'` mode
 * for every unsafe request, in `'origin'` mode for one that carries the
 * session cookie of a stored session: the browser must not say it came from
 * another site or origin ({@link originProblem}). In `'on'` mode the request
 * must also bring a token of its session (`request.csrfToken()`) in the
 * `PSOCsrfHeader` header or the `PSOCsrfField` field of a form body (never
 * the query string, which ends up in logs and Referer headers).
 *
 * @throws CsrfError (a 403) naming the check that failed.
 * @example
 * ```ts
 * await checkCsrf(request, 'on', { storedId: session.isNew ? undefined : session.id, cookie: true, header: false });
 * ```
 */
export async function checkCsrf(request: CsrfRequest, mode: CsrfMode, session: CsrfSession): Promise<void> {
  if (mode === 'off' || SAFE_METHODS.has(request.method) || session.header) return;
  if (mode === 'origin' && !(session.cookie && session.storedId !== undefined)) return;
  const names = csrfNamesOf(request);
  const problem = originProblem(request, names.trustedOrigins);
  if (problem !== undefined) throw new CsrfError('origin', problem);
  if (mode === 'origin') return;
  const token = request.getRequestHeader(names.header)?.trim() || (await tokenInBody(request, names.field));
  const where = `the ${names.field} field of the form, or the ${names.header} header`;
  if (!token) throw new CsrfError('token', `no CSRF token came: send request.csrfToken() in ${where}`);
  if (session.storedId === undefined) {
    throw new CsrfError('token', 'the request names no stored session to check its CSRF token against (no session cookie came, or the session expired): load the form again');
  }
  const verdict = csrfTokenMatches(token, session.storedId);
  if (verdict === 'malformed') throw new CsrfError('token', `the CSRF token in ${where} is not one pso makes`);
  // A page made before regenerate() or PSOSessionRotate, posted with the id it was made for while that id still leads here.
  if (verdict === 'mismatch' && session.formerIds?.some((id) => csrfTokenMatches(token, id) === 'ok')) return;
  if (verdict === 'mismatch') throw new CsrfError('token', 'the CSRF token belongs to another session (a page from before a login or logout, or another visitor\'s): load the form again');
}

/** The token in a form body; a field of the same name in the query string is not taken. */
async function tokenInBody(request: CsrfRequest, field: string): Promise<string | undefined> {
  const type = (request.getRequestHeader('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (!FORM_TYPES.has(type)) return undefined;
  const values = (await request.form()).getAll(field);
  // The query string's fields come first in the form.
  const inQuery = new URLSearchParams(request.queryString).getAll(field).length;
  return values[inQuery];
}
