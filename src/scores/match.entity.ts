import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { MatchStatus, Sport } from './sports.js';

@Entity('matches')
@Index('idx_matches_status_starts_at', ['status', 'startsAt'])
export class Match {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 32 })
  sport: Sport;

  @Column({ name: 'home_team', type: 'varchar', length: 100 })
  homeTeam: string;

  @Column({ name: 'away_team', type: 'varchar', length: 100 })
  awayTeam: string;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt: Date;

  @Column({ type: 'varchar', length: 16, default: 'scheduled' })
  status: MatchStatus;

  @Column({ name: 'home_score', type: 'int', default: 0 })
  homeScore: number;

  @Column({ name: 'away_score', type: 'int', default: 0 })
  awayScore: number;

  /** 0 before kickoff, then 1, 2, … */
  @Column({ type: 'int', default: 0 })
  period: number;

  /** The seq of the last timeline event (0 = none). */
  @Column({ name: 'last_seq', type: 'int', default: 0 })
  lastSeq: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
