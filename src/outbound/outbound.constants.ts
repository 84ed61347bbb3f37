/**
 * Outbound job names and ids. BullMQ refuses `:` in a custom job id (it separates Redis key parts:
 * `Custom Id cannot contain :`), so the deterministic id of a delivery is `${endpointId}_${messageId}`
 * (a uuid and a bigint: never an integer, never a colon). Adding a job whose id exists is a no-op,
 * which is what makes enqueueing from the intake, a resume and the reconciler safe to repeat.
 */
export const JOBS = {
  /** One delivery of an unordered endpoint. */
  deliver: 'deliver',
  /** The one dispatcher of an endpoint that must go in message order (see DeliveryProcessor). */
  sequence: 'sequence',
} as const;

export const deliveryJobId = (endpointId: string, messageId: string) => `${endpointId}_${messageId}`;
export const sequenceJobId = (endpointId: string) => `seq_${endpointId}`;

export interface DeliverJobData {
  deliveryId: string;
  endpointId: string;
  messageId: string;
  /** A rate-limit slot reserved for the attempt numbered `slot.attempt`, at epoch ms `slot.at`. */
  slot?: { attempt: number; at: number };
}

/** The endpoint whose sequence runs; what to send is read from Postgres each step. */
export interface SequenceJobData {
  endpointId: string;
}

export const OUTBOX_HANDLER = 'outbound-webhooks';
