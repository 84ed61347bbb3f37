import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminScoresController } from './admin-scores.controller.js';
import { DemoScoresSimulator } from './demo-scores.simulator.js';
import { MatchEvent } from './match-event.entity.js';
import { Match } from './match.entity.js';
import { ScoresController } from './scores.controller.js';
import { ScoresService } from './scores.service.js';

/** Sports scores: matches, timelines, the strict `scores` feed fed by the outbox, demo simulator. */
@Module({
  imports: [TypeOrmModule.forFeature([Match, MatchEvent])],
  controllers: [ScoresController, AdminScoresController],
  providers: [ScoresService, DemoScoresSimulator],
  exports: [ScoresService],
})
export class ScoresModule {}
