import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { User } from '#src/users/user.entity.js';

export const CONVERSATION_TYPES = ['direct', 'group'] as const;
export type ConversationType = (typeof CONVERSATION_TYPES)[number];

/** A direct chat (exactly one per pair of users) or a group. `lastSeq` hands out message seqs. */
@Entity('conversations')
@Check('conversations_type_check', `"type" IN ('direct', 'group')`)
export class Conversation {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 16 })
  type: ConversationType;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  /** `<smaller user id>:<larger user id>` for a direct conversation, so a pair has one. */
  @Index('conversations_direct_key_idx', { unique: true })
  @Column({ name: 'direct_key', type: 'varchar', length: 80, nullable: true })
  directKey: string | null;

  /** The seq of the newest message; bumped under the row lock by every insert. */
  @Column({ name: 'last_seq', type: 'bigint', default: 0 })
  lastSeq: string;

  @Column({ name: 'last_message_at', type: 'timestamptz', nullable: true })
  lastMessageAt: Date | null;

  @ManyToOne(() => User, { nullable: true, onDelete: 'SET NULL' })
  @JoinColumn({ name: 'created_by' })
  creator?: User | null;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
