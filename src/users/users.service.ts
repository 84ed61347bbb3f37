import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, In, type Repository } from 'typeorm';
import { TokenService } from '#src/platform/auth/token.service.js';
import { type Page, type PageQueryDto, page } from '#src/platform/http/page.js';
import type { CreateUserDto } from './dto/create-user.dto.js';
import { type Plan, User } from './user.entity.js';

/** Users and their plan; the service other modules use (never the repository). */
@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly tokens: TokenService,
  ) {}

  create(dto: CreateUserDto): Promise<User> {
    return this.users.save(this.users.create({ name: dto.name, plan: dto.plan ?? 'free' }));
  }

  async list(query: PageQueryDto): Promise<Page<User>> {
    const [items, total] = await this.users.findAndCount({
      order: { createdAt: 'DESC', id: 'ASC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return page(items, total, query);
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw new NotFoundException(`user ${id} not found`);
    return user;
  }

  findMany(ids: string[]): Promise<User[]> {
    return ids.length === 0
      ? Promise.resolve([])
      : this.users.createQueryBuilder('u').where('u.id IN (:...ids)', { ids }).getMany();
  }

  async mintToken(id: string, ttlSeconds?: number) {
    await this.get(id);
    return this.tokens.mint(id, ttlSeconds);
  }

  /** Demo sign-in: the oldest user with that name, or a new one. */
  async demoLogin(name: string) {
    const user =
      (await this.users.findOne({ where: { name }, order: { createdAt: 'ASC' } })) ?? (await this.create({ name }));
    return { ...(await this.tokens.mint(user.id)), user };
  }

  /** The plans of these users (feed access reads them at a stream's open and follows changes). */
  async plansOf(ids: string[]): Promise<Map<string, Plan>> {
    if (ids.length === 0) return new Map();
    const rows = await this.users.find({ where: { id: In(ids) }, select: { id: true, plan: true } });
    return new Map(rows.map((row) => [row.id, row.plan]));
  }

  /** Changes a user's plan inside the caller's transaction (used by billing webhooks). */
  async setPlan(manager: EntityManager, id: string, plan: Plan): Promise<User | null> {
    const repo = manager.getRepository(User);
    const user = await repo.findOneBy({ id });
    if (!user) return null;
    user.plan = plan;
    return repo.save(user);
  }
}
