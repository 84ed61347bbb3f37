/**
 * Shutdown of the HTTPS server (TLS_CERT_FILE): Fastify's `forceCloseConnections` ends idle
 * keep-alive connections of an HTTP/1.1 server only, and an HTTP/2 server's `close()` waits for
 * every session and every HTTP/1.1 (ALPN) connection to end by itself. Before the server closes,
 * each HTTP/2 session gets a GOAWAY (`session.close()`: streams still open may finish) and each
 * HTTP/1.1 connection is ended, as `forceCloseConnections` does for the plain server. A session
 * still open after SESSION_GRACE_MS is destroyed (feed streams have been ended before this).
 */
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';

const SESSION_GRACE_MS = 1_000;

export function closeTlsConnectionsOnClose(fastify: FastifyInstance): void {
  const server = fastify.server as unknown as Http2SecureServer;
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<TLSSocket>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return; // its session is closed above
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  fastify.addHook('preClose', (done) => {
    for (const session of sessions) {
      session.close();
      // A stream the peer never ends would hold the session (and the server's close) open.
      setTimeout(() => session.destroy(), SESSION_GRACE_MS).unref();
    }
    for (const socket of sockets) socket.destroy();
    done();
  });
}
