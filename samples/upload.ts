// File upload: the browser's file arrives as a temporary file (removed when
// the request ends); save() moves it where it should live. Never build the
// destination from the browser's file name: it is only shown, escaped.
//
//   GET  /      the upload form
//   POST /      multipart/form-data with a "file" field
//
// Uploaded files go to PSOUploadStore (default: uploads/ beside the sessions).
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function handler(request: ServiceRequest) {
  const file = request.getFile('file');
  request.sendHttpHeaders('text/html; charset=utf-8');
  if (!file) {
    request.write(`<form method="post" enctype="multipart/form-data">
<input type="file" name="file"> <input name="note" placeholder="note"> <button>upload</button></form>\n`);
    return;
  }
  const dir = request.getEnviron('PSOUploadStore') || join(tmpdir(), 'pso-sample-uploads');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stored = join(dir, randomUUID());
  await file.save(stored);
  const uploads = request.session.increment('uploads');
  request.write(`<p id="got">${escape(file.filename)}: ${file.size} bytes of ${escape(file.type)}</p>\n`);
  request.write(`<p id="note">${escape(request.getInput('note', ''))}</p>\n`);
  request.write(`<p id="stored">${escape(stored)}</p>\n<p id="count">uploads this session: ${uploads}</p>\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
