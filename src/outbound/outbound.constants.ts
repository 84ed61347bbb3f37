/**
 * Outbound job names and ids. Each active endpoint with pending deliveries has one job, its pump
 * (`pump_<endpointId>`, see DeliveryProcessor); Postgres says what it sends. BullMQ refuses `:` in a
 * custom job id (`Custom Id cannot contain :`), hence the `_`. Adding a job whose id exists is a
 * no-op, which is what makes kicking an endpoint from the intake, a resume and the reconciler safe to
 * repeat.
 */
export const JOBS = {
  /** The one dispatcher of an endpoint: claims its due deliveries from Postgres and sends them. */
  // Earlier releases' `deliver` (one per delivery) and `sequence` (one per ordered endpoint) jobs
  // are any other name: DeliveryProcessor kicks their endpoint's pump and completes them.
  pump: 'pump',
} as const;

export const pumpJobId = (endpointId: string) => `pump_${endpointId}`;

/** The endpoint a job is about (every outbound job's data has it, old kinds too). */
export interface PumpJobData {
  endpointId: string;
}

export const OUTBOX_HANDLER = 'outbound-webhooks';
