/** Types for `cluster-key-slot` (ioredis's own slot function, which ships none): the Redis Cluster slot of a key. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
