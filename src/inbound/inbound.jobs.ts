/** The inbound queue's job: one per stored event (and per replay), with a deterministic id. */
export const INBOUND_JOB = 'process-event';

export interface InboundJobData {
  id: string;
}

/** Same event, same replay count → same job id, so a second `add` (intake, reconciler) is a no-op. */
export function inboundJobId(eventId: string, replays: number): string {
  return replays === 0 ? `event-${eventId}` : `event-${eventId}-replay-${replays}`;
}
