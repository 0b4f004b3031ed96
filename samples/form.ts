// Form input, as the How-To's bridge promises: one value with a default, the
// values of a repeated field, has-input checks, and the whole form. The same
// handler reads a query string, an urlencoded POST and a multipart POST.
//
//   GET  /?name=Ada&color=red&color=blue
//   POST /   name=Ada&color=red   (or multipart/form-data)
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function handler(request: ServiceRequest) {
  request.sendHttpHeaders('text/html; charset=utf-8');
  if (!request.hasInput('name')) {
    request.write(`<form method="post">
<input name="name" placeholder="name">
<label><input type="checkbox" name="color" value="red"> red</label>
<label><input type="checkbox" name="color" value="blue"> blue</label>
<button>send</button></form>\n`);
    return;
  }
  const name = request.getInput('name', 'stranger');
  const colors = request.getInputs('color');
  request.write(`<p id="hello">Hello ${escape(name)}!</p>\n`);
  request.write(`<p id="colors">${colors.length ? colors.map(escape).join(', ') : 'no colors'}</p>\n`);
  request.write(`<p id="first-color">${escape(request.getInput('color', 'none', 0))}</p>\n`);
  request.write(`<p id="both">${request.hasInputs('name', 'color') ? 'name and color' : 'not both'}</p>\n`);
  request.write(`<pre id="form">${escape(JSON.stringify(request.getInputDict()))}</pre>\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
