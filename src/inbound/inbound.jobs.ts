/** The inbound queue's job: one per stored event (and per replay), with a deterministic id. */
export const INBOUND_JOB = 'process-event';

export interface InboundJobData {
  id: string;
  /** The receiving request's W3C `traceparent`, when tracing is on: processing continues its trace. */
  trace?: string;
}

/** Same event, same replay count → same job id, so a second `add` (intake, reconciler) is a no-op. */
export function inboundJobId(eventId: string, replays: number): string {
  return replays === 0 ? `event-${eventId}` : `event-${eventId}-replay-${replays}`;
}
