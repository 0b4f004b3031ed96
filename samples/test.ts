// The How-To's installation example: no session code at all. In 2002 every
// visitor still got a session; pso stores one only when it holds data, so
// this page sends no cookie unless PSOSessionLazy is off:
//
//   $ PSOSessionLazy=off node dist/samples/test.js
//   Content-Type: text/html; charset=utf-8
//   Set-Cookie: test=...; Path=/; HttpOnly; SameSite=Lax
//
//   hello world
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

export function testHandler(serviceRequest: ServiceRequest) {
  serviceRequest.write('hello world\n');
}

export { testHandler as handler };

if (isMain(import.meta.url)) new ServiceHandler().run(testHandler);
