// Test-only shim. @fastify/static (CommonJS) requires content-disposition@3, which is ESM-only;
// Node >= 20.19 loads that natively, but Jest's module runtime cannot require ESM before Node 24.9.
// The app never serves downloads, so only `create` is needed, with the library's basic behaviour.
'use strict';
function create(filename, options) {
  const type = (options && options.type) || 'attachment';
  if (filename === undefined) return type;
  const ascii = String(filename)
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/["\\]/g, '\\$&');
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(String(filename))}`;
}
module.exports = { create };
