import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAbsolute } from 'node:path';
import { ConfigurationError } from '../../config/ConfigurationError.js';
import { readBytes, type DirectiveSource } from '../../config/directives.js';

/** The limits a form body is read under; each is a directive, named in the 413 that enforces it. */
export interface FormLimits {
  /** Largest `application/x-www-form-urlencoded` (or other) body read whole: `PSOMaxBodySize`. */
  readonly maxBodySize: number;
  /** Largest `multipart/form-data` body, files included: `PSOMaxUploadSize`. */
  readonly maxUploadSize: number;
  /** Largest uploaded file: `PSOMaxFileSize`. */
  readonly maxFileSize: number;
  /** Most files in one request: `PSOMaxFiles`. */
  readonly maxFiles: number;
  /** Most text fields in one request, query string included: `PSOMaxFields`. */
  readonly maxFields: number;
  /** Largest text field value: `PSOMaxFieldSize`. */
  readonly maxFieldSize: number;
  /** Where uploads are written while the request lasts: `PSOUploadDir`. */
  readonly uploadDir: string;
}

/** The defaults, near PHP's and Django's. */
export const FORM_DEFAULTS = {
  maxBodySize: 1024 * 1024,
  maxUploadSize: 64 * 1024 * 1024,
  maxFileSize: 32 * 1024 * 1024,
  maxFiles: 20,
  maxFields: 1000,
  maxFieldSize: 1024 * 1024,
} as const;

const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
/**
 * Where uploads go unless `PSOUploadDir` says otherwise: a directory of this
 * user's own under the system's temporary directory (0700), never the shared
 * directory itself.
 */
export const DEFAULT_UPLOAD_DIR = join(tmpdir(), `pso-uploads${uid === undefined ? '' : `-${uid}`}`);

/**
 * The form limits of one request, from its directives.
 *
 * @throws ConfigurationError naming a directive with an invalid value.
 * @example
 * ```ts
 * readFormLimits(request).maxFileSize; // 33554432 unless PSOMaxFileSize says otherwise
 * ```
 */
export function readFormLimits(source: DirectiveSource): FormLimits {
  const uploadDir = source.getEnviron('PSOUploadDir')?.trim() || DEFAULT_UPLOAD_DIR;
  if (!isAbsolute(uploadDir)) throw new ConfigurationError('PSOUploadDir', uploadDir, 'expected an absolute path');
  return {
    maxBodySize: readBytes(source, 'PSOMaxBodySize', FORM_DEFAULTS.maxBodySize),
    maxUploadSize: readBytes(source, 'PSOMaxUploadSize', FORM_DEFAULTS.maxUploadSize),
    maxFileSize: readBytes(source, 'PSOMaxFileSize', FORM_DEFAULTS.maxFileSize),
    maxFiles: readCount(source, 'PSOMaxFiles', FORM_DEFAULTS.maxFiles),
    maxFields: readCount(source, 'PSOMaxFields', FORM_DEFAULTS.maxFields),
    maxFieldSize: readBytes(source, 'PSOMaxFieldSize', FORM_DEFAULTS.maxFieldSize),
    uploadDir,
  };
}

function readCount(source: DirectiveSource, name: 'PSOMaxFiles' | 'PSOMaxFields', fallback: number): number {
  const raw = source.getEnviron(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw.trim()))) {
    throw new ConfigurationError(name, raw, 'expected a whole number');
  }
  return Number(raw.trim());
}
