import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository } from 'typeorm';
import { type Page, page } from '#src/platform/http/page.js';
import type { CreateGithubBindingDto } from './dto/create-github-binding.dto.js';
import type { ListGithubBindingsDto } from './dto/list-github-bindings.dto.js';
import { GithubBinding } from './github-binding.entity.js';

/** Which chat conversations hear about which GitHub repository. */
@Injectable()
export class GithubBindingsService {
  constructor(@InjectRepository(GithubBinding) private readonly bindings: Repository<GithubBinding>) {}

  async create(dto: CreateGithubBindingDto): Promise<GithubBinding> {
    const repository = dto.repository.toLowerCase();
    try {
      return await this.bindings.save(this.bindings.create({ repository, conversationId: dto.conversationId }));
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new ConflictException(`${repository} is already bound to conversation ${dto.conversationId}`);
      }
      throw error;
    }
  }

  async list(query: ListGithubBindingsDto): Promise<Page<GithubBinding>> {
    const [items, total] = await this.bindings.findAndCount({
      where: query.repository ? { repository: query.repository.toLowerCase() } : {},
      order: { createdAt: 'DESC', id: 'ASC' },
      skip: (query.page - 1) * query.limit,
      take: query.limit,
    });
    return page(items, total, query);
  }

  async remove(id: string): Promise<void> {
    const result = await this.bindings.delete({ id });
    if (!result.affected) throw new NotFoundException(`binding ${id} not found`);
  }

  /** The conversations bound to a repository, read in the caller's transaction. */
  async conversationsFor(manager: EntityManager, repository: string): Promise<string[]> {
    const rows: { conversation_id: string }[] = await manager.query(
      'SELECT conversation_id FROM github_bindings WHERE repository = $1 ORDER BY created_at, id',
      [repository.toLowerCase()],
    );
    return rows.map((row) => row.conversation_id);
  }
}
