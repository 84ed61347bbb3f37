/** Every BullMQ queue and job name, in one place. */
export const QUEUES = {
  inbound: 'inbound-webhooks',
  outbound: 'outbound-deliveries',
  maintenance: 'maintenance',
} as const;
