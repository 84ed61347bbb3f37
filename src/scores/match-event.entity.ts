import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { Match } from './match.entity.js';
import type { EventKind, Team } from './sports.js';

/** One entry of a match's append-only timeline; `seq` orders it within the match. */
@Entity('match_events')
@Unique('uq_match_events_match_seq', ['matchId', 'seq'])
export class MatchEvent {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'match_id', type: 'uuid' })
  matchId: string;

  @ManyToOne(() => Match, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'match_id' })
  match?: Match;

  @Column({ type: 'int' })
  seq: number;

  @Column({ type: 'varchar', length: 16 })
  kind: EventKind;

  @Column({ type: 'varchar', length: 4, nullable: true })
  team: Team | null;

  @Column({ type: 'int', nullable: true })
  points: number | null;

  @Column({ type: 'int' })
  period: number;

  /** The score after this event. */
  @Column({ name: 'home_score', type: 'int' })
  homeScore: number;

  @Column({ name: 'away_score', type: 'int' })
  awayScore: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
