// A handler the form specs run on every host, in process and as a real CGI
// process: reports the form it got, and keeps or saves uploads when asked.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

export async function handler(request: ServiceRequest): Promise<void> {
  const files = [];
  for (const file of request.getFiles()) {
    const sha256 = createHash('sha256').update(await file.read()).digest('hex');
    const tempExisted = existsSync(file.path);
    const saveTo = request.getInput(`save_${file.fieldName}`);
    if (saveTo) await file.save(saveTo);
    else if (request.hasInput(`keep_${file.fieldName}`)) await file.keep();
    files.push({ ...file.toJSON(), sha256, tempExisted, path: file.path });
  }
  request.sendHttpHeaders('application/json');
  request.write(JSON.stringify({
    dict: request.getInputDict(),
    first: request.getInput('a', 'none'),
    second: request.getInput('a', 'none', 1),
    all: request.getInputs('a'),
    hasBoth: request.hasInputs('a', 'b'),
    hasFile: request.hasInput('upload'),
    files,
  }));
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
