import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '#src/users/user.entity.js';
import { Conversation } from './conversation.entity.js';

export const MEMBER_ROLES = ['owner', 'admin', 'member'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

/** A user in a conversation, with the per-member delivered and read cursors (message seqs). */
@Entity('conversation_members')
@Index('conversation_members_user_idx', ['userId'])
@Check('conversation_members_role_check', `"role" IN ('owner', 'admin', 'member')`)
export class ConversationMember {
  @PrimaryColumn({ name: 'conversation_id', type: 'uuid' })
  conversationId: string;

  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'conversation_id' })
  conversation?: Conversation;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'varchar', length: 16, default: 'member' })
  role: MemberRole;

  /** Highest seq a connection of this user acknowledged (or read). */
  @Column({ name: 'delivered_seq', type: 'bigint', default: 0 })
  deliveredSeq: string;

  @Column({ name: 'read_seq', type: 'bigint', default: 0 })
  readSeq: string;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt: Date;
}
