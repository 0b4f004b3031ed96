// A handler run as a real CGI process by the host specs: echoes the form fields.
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

export async function handler(request: ServiceRequest): Promise<void> {
  const fields = await request.form();
  request.sendHttpHeaders('text/plain');
  request.write(JSON.stringify([...fields]));
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
