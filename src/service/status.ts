/**
 * Return values a handler may give, as with mod_python: `OK` means "the
 * response is as the handler made it"; a number from 100 to 599 sets the
 * status when nothing has been sent yet.
 *
 * @example
 * ```ts
 * export function handler(request: ServiceRequest) {
 *   request.write('hello');
 *   return OK;
 * }
 * ```
 */
export const OK = 0;
/** 404, for `return HTTP_NOT_FOUND`. */
export const HTTP_NOT_FOUND = 404;
/** 403, for `return HTTP_FORBIDDEN`. */
export const HTTP_FORBIDDEN = 403;
/** 500, for `return HTTP_INTERNAL_SERVER_ERROR`. */
export const HTTP_INTERNAL_SERVER_ERROR = 500;

import { STATUS_CODES } from 'node:http';

/** The reason phrase of a status code ("Not Found" for 404). */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}
