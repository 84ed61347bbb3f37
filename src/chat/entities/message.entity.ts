import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { User } from '#src/users/user.entity.js';
import { Conversation } from './conversation.entity.js';

/**
 * A chat message. `seq` orders it in its conversation (1, 2, 3, … with no gap). A system message
 * has no sender (`sender_id` NULL); its `client_msg_id` is the poster's idempotency key, unique
 * per conversation. A user's `client_msg_id` is unique per sender.
 */
@Entity('messages')
@Unique('messages_conversation_seq_key', ['conversationId', 'seq'])
@Unique('messages_sender_client_msg_key', ['senderId', 'clientMsgId'])
@Index('messages_system_key_idx', ['conversationId', 'clientMsgId'], { unique: true, where: 'sender_id IS NULL' })
export class Message {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'conversation_id' })
  conversation?: Conversation;

  @Column({ type: 'bigint' })
  seq: string;

  /** NULL for a system message. */
  @Column({ name: 'sender_id', type: 'uuid', nullable: true })
  senderId: string | null;

  @ManyToOne(() => User, { nullable: true })
  @JoinColumn({ name: 'sender_id' })
  sender?: User | null;

  @Column({ type: 'text' })
  body: string;

  @Column({ name: 'client_msg_id', type: 'varchar', length: 100 })
  clientMsgId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
