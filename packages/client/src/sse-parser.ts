/**
 * The event-stream format (the WHATWG "event stream interpretation", what EventSource does), fed
 * text chunks as they arrive; each complete event goes to `onEvent`. Comments and `retry:` are
 * ignored (the SDK chooses its own reconnect timing).
 */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id?: string;

  constructor(private readonly onEvent: (message: SseMessage) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      const end = this.buffer.slice(start).search(/\r\n|\r|\n/);
      if (end < 0) break;
      const line = this.buffer.slice(start, start + end);
      // A lone CR at the end of a chunk may be the first half of CRLF: wait for more.
      if (this.buffer[start + end] === '\r' && start + end + 1 === this.buffer.length) break;
      start += end + (this.buffer.startsWith('\r\n', start + end) ? 2 : 1);
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }

  private dispatch(): void {
    const message = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
    const hasData = this.data.length > 0;
    this.event = '';
    this.data = [];
    this.id = undefined;
    if (hasData) this.onEvent(message);
  }
}
