import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** An admin's choice: events of this GitHub repository go to this chat conversation. */
@Entity('github_bindings')
@Unique('github_bindings_repository_conversation_key', ['repository', 'conversationId'])
export class GithubBinding {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** `owner/name`, lower-cased (GitHub names are case-insensitive). */
  @Column({ type: 'varchar', length: 200 })
  repository: string;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
