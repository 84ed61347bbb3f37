/** OpenAPI shapes of the instance registry's routes (admin-instances.controller.ts). */
import { ApiProperty } from '@nestjs/swagger';
import { IntField } from '#src/platform/http/fields.js';
import { HISTORY_MINUTES } from './instance-registry.js';

const PER_KEY = { type: 'object', additionalProperties: { type: 'number' } } as const;

export class ConnectionsDto {
  @ApiProperty({ description: 'Open SSE streams' }) sse: number;
  @ApiProperty({ description: 'Open NDJSON streams' }) ndjson: number;
  @ApiProperty({ description: 'Open feed WebSockets (/feeds/ws)' }) ws: number;
  @ApiProperty({ description: 'Long polls waiting' }) longPoll: number;
  @ApiProperty({ description: 'Chat sockets (socket.io)' }) chat: number;
}

export class RatesDto {
  @ApiProperty({ ...PER_KEY, description: 'Feed events published, per feed' }) feedEvents: Record<string, number>;
  @ApiProperty({ ...PER_KEY, description: 'Frames written to SSE, NDJSON and WebSocket clients, per feed' })
  framesWritten: Record<string, number>;
  @ApiProperty({ ...PER_KEY, description: 'Frames replaced by a newer one while congested, per feed' })
  framesConflated: Record<string, number>;
  @ApiProperty({ ...PER_KEY, description: 'Connections closed past the hard limit, per feed' })
  slowConsumerCloses: Record<string, number>;
  @ApiProperty({ description: 'Chat messages stored' }) chatMessages: number;
  @ApiProperty({ description: 'Chat socket events refused by the rate limits' }) chatRateLimited: number;
  @ApiProperty({ description: 'Outbound attempts that succeeded' }) outboundSucceeded: number;
  @ApiProperty({ description: 'Outbound attempts that failed (retrying, failed or gone)' }) outboundFailed: number;
  @ApiProperty({ description: 'Inbound webhooks stored' }) inboundReceived: number;
  @ApiProperty({ description: 'Inbound webhooks refused' }) inboundRejected: number;
  @ApiProperty({ ...PER_KEY, description: 'Inbound webhooks refused, per reason' })
  inboundRejectedByReason: Record<string, number>;
}

export class ConnectionViewDto {
  @ApiProperty({ enum: ['sse', 'ndjson', 'ws'] }) transport: string;
  @ApiProperty({ type: [String], example: ['ticker'] }) feeds: string[];
  @ApiProperty({ nullable: true, type: Number, description: 'Topics served; null when a stream serves its whole feed' })
  topics: number | null;
  @ApiProperty({ description: 'Bytes written but not yet taken by the client' }) bufferedBytes: number;
  @ApiProperty() ageSeconds: number;
}

export class InstanceDto {
  @ApiProperty({ example: 'app-1' }) id: string;
  @ApiProperty() host: string;
  @ApiProperty() pid: number;
  @ApiProperty({ example: 'v24.22.3' }) node: string;
  @ApiProperty({ format: 'date-time' }) startedAt: string;
  @ApiProperty({ format: 'date-time' }) lastSeenAt: string;
  @ApiProperty({ type: ConnectionsDto }) connections: ConnectionsDto;
  @ApiProperty({ ...PER_KEY, description: 'Open streams per feed, any transport' }) subscribers: Record<string, number>;
  @ApiProperty({ type: RatesDto, description: 'Per second over the last heartbeat interval' }) rates: RatesDto;
  @ApiProperty({ type: [ConnectionViewDto], description: 'The connections that buffer most (10)' })
  slowest: ConnectionViewDto[];
}

export class InstancesDto {
  @ApiProperty({ description: 'INSTANCE_HEARTBEAT_MS' }) intervalMs: number;
  @ApiProperty({ type: [InstanceDto] }) instances: InstanceDto[];
}

export class HistoryPointDto {
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ description: 'Instances that reported in this interval' }) instances: number;
  @ApiProperty({ type: ConnectionsDto }) connections: ConnectionsDto;
  @ApiProperty({ type: RatesDto }) rates: RatesDto;
}

export class HistoryDto {
  @ApiProperty() intervalMs: number;
  @ApiProperty({ type: [HistoryPointDto], description: 'Sums over the instances, oldest first' })
  points: HistoryPointDto[];
}

export class HistoryQueryDto {
  @IntField({ min: 1, max: HISTORY_MINUTES, optional: true, default: 5 })
  minutes: number = 5;
}
