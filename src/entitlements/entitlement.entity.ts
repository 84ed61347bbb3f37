import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { AccessPlan, Entitlement } from './entitlement.js';

/** An operator's entitlement for a plan (a plan without a row has the defaults of entitlement.ts). */
@Entity('entitlements')
export class EntitlementRow {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  plan: AccessPlan;

  @Column({ type: 'jsonb' })
  ticker: Entitlement['ticker'];

  @Column({ type: 'jsonb' })
  scores: Entitlement['scores'];

  @Column({ name: 'max_streams', type: 'integer' })
  maxStreams: number;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
