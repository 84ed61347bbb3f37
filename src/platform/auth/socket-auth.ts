import type { Socket } from 'socket.io';
import type { AuthUser, TokenService } from './token.service.js';

export interface AuthedSocketData {
  user: AuthUser;
}

/**
 * socket.io middleware: verifies `auth.token` of the handshake. A bad or expired token fails the
 * connection with `connect_error` "unauthorized".
 */
export function socketAuth(tokens: TokenService) {
  return (socket: Socket, next: (error?: Error) => void): void => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    void tokens.verify(typeof token === 'string' ? token : undefined).then((user) => {
      if (!user) return next(new Error('unauthorized'));
      (socket.data as AuthedSocketData).user = user;
      next();
    });
  };
}
