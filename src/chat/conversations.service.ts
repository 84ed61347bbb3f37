/**
 * Conversations and their members: direct (one per pair of users, created idempotently) and groups
 * (owner, admins, members). Membership is what every chat read and write is checked against.
 */
import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ConversationView } from '@livefeed/client/wire';
import { AppConfig } from '#src/config/app-config.js';
import { type Page, type PageQueryDto, page } from '#src/platform/http/page.js';
import { UsersService } from '#src/users/users.service.js';
import { ChatError, type MessageRow, toChatMessage } from './chat-message.js';
import type { CreateConversationDto } from './dto/create-conversation.dto.js';
import type { ConversationType } from './entities/conversation.entity.js';
import type { MemberRole } from './entities/conversation-member.entity.js';

/** A conversation as its member sees it: the SDK's type, what the REST routes answer. */
export type { ConversationView };

interface ViewRow {
  id: string;
  type: ConversationType;
  title: string | null;
  created_at: Date;
  last_seq: string;
  role: MemberRole;
  read_seq: string;
  delivered_seq: string;
  members: { userId: string; role: MemberRole }[];
  last_message: MessageRow | null;
  unread: string;
}

const VIEW_SELECT = `
SELECT c.id, c.type, c.title, c.created_at, c.last_seq, me.role, me.read_seq, me.delivered_seq,
  (SELECT json_agg(json_build_object('userId', m.user_id, 'role', m.role) ORDER BY m.joined_at, m.user_id)
     FROM conversation_members m WHERE m.conversation_id = c.id) AS members,
  (SELECT row_to_json(x) FROM (
     SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages
     WHERE conversation_id = c.id AND seq = c.last_seq) x) AS last_message,
  (SELECT count(*) FROM messages u
     WHERE u.conversation_id = c.id AND u.seq > me.read_seq AND u.sender_id IS DISTINCT FROM me.user_id) AS unread
FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id`;

const MEMBER_CACHE_MS = 5_000;

@Injectable()
export class ConversationsService {
  /** conversation id → member ids, for typing and presence relays (short-lived; sends read members fresh). */
  private readonly memberCache = new Map<string, { ids: string[]; at: number }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  async create(me: string, dto: CreateConversationDto): Promise<{ conversation: ConversationView; created: boolean }> {
    if (dto.type === 'direct') {
      if (dto.title !== undefined || dto.memberIds !== undefined) {
        throw new ChatError('invalid', 'a direct conversation takes userId only (no title or memberIds)');
      }
      return this.createDirect(me, dto.userId!);
    }
    if (dto.userId !== undefined) throw new ChatError('invalid', 'a group takes title and memberIds (not userId)');
    return { conversation: await this.createGroup(me, dto.title!, dto.memberIds!), created: true };
  }

  private async createDirect(me: string, other: string): Promise<{ conversation: ConversationView; created: boolean }> {
    if (other === me) throw new ChatError('invalid', 'userId: a direct conversation needs another user');
    await this.assertUsersExist(me, [other], 'userId');
    const directKey = [me, other].sort().join(':');
    const id = await this.dataSource.transaction(async (manager) => {
      const inserted: { id: string }[] = await manager.query(
        `INSERT INTO conversations (type, direct_key, created_by) VALUES ('direct', $1, $2)
         ON CONFLICT (direct_key) DO NOTHING RETURNING id`,
        [directKey, me],
      );
      if (inserted.length === 0) return undefined;
      await manager.query(
        `INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'member'), ($1, $3, 'member')`,
        [inserted[0].id, me, other],
      );
      return inserted[0].id;
    });
    if (id) return { conversation: await this.get(me, id), created: true };
    // Someone created it first (maybe concurrently: ON CONFLICT waited for their commit).
    const [existing]: { id: string }[] = await this.dataSource.query(
      'SELECT id FROM conversations WHERE direct_key = $1',
      [directKey],
    );
    return { conversation: await this.get(me, existing.id), created: false };
  }

  private async createGroup(me: string, title: string, memberIds: string[]): Promise<ConversationView> {
    const others = [...new Set(memberIds)].filter((id) => id !== me);
    const max = this.config.chat.maxGroupMembers;
    if (others.length + 1 > max) throw new ChatError('invalid', `memberIds: a group has at most ${max} members`);
    await this.assertUsersExist(me, others, 'memberIds');
    const id = await this.dataSource.transaction(async (manager) => {
      const [row]: { id: string }[] = await manager.query(
        `INSERT INTO conversations (type, title, created_by) VALUES ('group', $1, $2) RETURNING id`,
        [title, me],
      );
      await manager.query(
        `INSERT INTO conversation_members (conversation_id, user_id, role)
         SELECT $1, u, CASE WHEN u = $2 THEN 'owner' ELSE 'member' END FROM unnest($3::uuid[]) AS u`,
        [row.id, me, [me, ...others]],
      );
      return row.id;
    });
    return this.get(me, id);
  }

  /** Owner or admin adds users to a group; they start at the current end (history stays readable via the API). */
  async addMembers(me: string, id: string, userIds: string[], role: 'admin' | 'member' = 'member') {
    const wanted = [...new Set(userIds)];
    await this.assertUsersExist(me, wanted, 'userIds');
    await this.dataSource.transaction(async (manager) => {
      // Row lock: no message is numbered while members change, so a new member's cursor is exact.
      const conversation = await this.lockGroup(manager, me, id);
      if (conversation.myRole === 'member')
        throw new ChatError('forbidden', 'only the owner or an admin can add members');
      const [{ count }]: { count: string }[] = await manager.query(
        `SELECT count(*) FROM (SELECT user_id FROM conversation_members WHERE conversation_id = $1
         UNION SELECT unnest($2::uuid[])) m`,
        [id, wanted],
      );
      const max = this.config.chat.maxGroupMembers;
      if (Number(count) > max) throw new ChatError('invalid', `userIds: a group has at most ${max} members`);
      await manager.query(
        `INSERT INTO conversation_members (conversation_id, user_id, role, delivered_seq, read_seq)
         SELECT $1, u, $3, $4, $4 FROM unnest($2::uuid[]) AS u
         ON CONFLICT (conversation_id, user_id) DO NOTHING`,
        [id, wanted, role, conversation.lastSeq],
      );
    });
    this.memberCache.delete(id);
    return this.get(me, id);
  }

  /** Anyone can leave; the owner removes anyone else, an admin removes plain members. */
  async removeMember(me: string, id: string, userId: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const conversation = await this.lockGroup(manager, me, id);
      const [target]: { role: MemberRole }[] = await manager.query(
        'SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
        [id, userId],
      );
      if (!target) throw new ChatError('not_found', `user ${userId} is not a member of conversation ${id}`);
      if (userId !== me) {
        const allowed =
          conversation.myRole === 'owner' || (conversation.myRole === 'admin' && target.role === 'member');
        if (!allowed)
          throw new ChatError('forbidden', `your role (${conversation.myRole}) cannot remove a ${target.role}`);
      }
      await manager.query('DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2', [id, userId]);
    });
    this.memberCache.delete(id);
  }

  private async lockGroup(manager: EntityManager, me: string, id: string) {
    const [row]: { type: ConversationType; last_seq: string; role: MemberRole | null }[] = await manager.query(
      `SELECT c.type, c.last_seq, m.role FROM conversations c
       LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
       WHERE c.id = $1 FOR UPDATE OF c`,
      [id, me],
    );
    if (!row?.role) throw notFound(id);
    if (row.type !== 'group') throw new ChatError('conflict', 'a direct conversation has exactly its two members');
    return { lastSeq: row.last_seq, myRole: row.role };
  }

  async list(me: string, query: PageQueryDto): Promise<Page<ConversationView>> {
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(
        `${VIEW_SELECT} WHERE me.user_id = $1
         ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id LIMIT $2 OFFSET $3`,
        [me, query.limit, (query.page - 1) * query.limit],
      ) as Promise<ViewRow[]>,
      this.dataSource.query('SELECT count(*)::int AS total FROM conversation_members WHERE user_id = $1', [
        me,
      ]) as Promise<{ total: number }[]>,
    ]);
    return page(rows.map(toView), total, query);
  }

  async get(me: string, id: string): Promise<ConversationView> {
    const [row]: ViewRow[] = await this.dataSource.query(`${VIEW_SELECT} WHERE me.user_id = $1 AND c.id = $2`, [
      me,
      id,
    ]);
    if (!row) await this.assertMember(me, id);
    return toView(row);
  }

  /** Throws not_found unless the user is a member (also when the conversation exists); returns the role. */
  async assertMember(me: string, id: string): Promise<MemberRole> {
    const [row]: { role: MemberRole }[] = await this.dataSource.query(
      'SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
      [id, me],
    );
    if (!row) throw notFound(id);
    return row.role;
  }

  /** Member ids, cached a few seconds (typing relays). */
  async memberIds(id: string): Promise<string[]> {
    const cached = this.memberCache.get(id);
    if (cached && Date.now() - cached.at < MEMBER_CACHE_MS) return cached.ids;
    const rows: { user_id: string }[] = await this.dataSource.query(
      'SELECT user_id FROM conversation_members WHERE conversation_id = $1',
      [id],
    );
    const ids = rows.map((row) => row.user_id);
    if (this.memberCache.size > 10_000) this.memberCache.clear();
    this.memberCache.set(id, { ids, at: Date.now() });
    return ids;
  }

  /** Everyone who shares a conversation with the user (who sees their presence). */
  async contactsOf(userId: string): Promise<string[]> {
    const rows: { user_id: string }[] = await this.dataSource.query(
      `SELECT DISTINCT o.user_id FROM conversation_members me
       JOIN conversation_members o ON o.conversation_id = me.conversation_id
       WHERE me.user_id = $1 AND o.user_id <> $1`,
      [userId],
    );
    return rows.map((row) => row.user_id);
  }

  private async assertUsersExist(me: string, ids: string[], field: string): Promise<void> {
    const found = new Set((await this.users.findMany([me, ...ids])).map((user) => user.id));
    if (!found.has(me)) throw new ChatError('unauthorized', 'your user no longer exists');
    const unknown = ids.filter((id) => !found.has(id));
    if (unknown.length > 0) {
      throw new UnprocessableEntityException(`${field}: unknown user ${unknown.slice(0, 10).join(', ')}`);
    }
  }
}

/**
 * A conversation the user is not in is answered exactly like one that does not exist, so ids cannot
 * be probed (the contract: 404, not 403).
 */
function notFound(id: string): ChatError {
  return new ChatError('not_found', `conversation ${id} not found`);
}

function toView(row: ViewRow): ConversationView {
  return {
    id: row.id,
    type: row.type,
    title: row.title,
    createdAt: row.created_at.toISOString(),
    members: row.members ?? [],
    role: row.role,
    lastSeq: Number(row.last_seq),
    lastMessage: row.last_message ? toChatMessage(row.last_message) : null,
    unreadCount: Number(row.unread),
    readSeq: Number(row.read_seq),
    deliveredSeq: Number(row.delivered_seq),
  };
}
