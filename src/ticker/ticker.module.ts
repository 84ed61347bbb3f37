import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTickerController } from './admin-ticker.controller.js';
import { DemoTickerSimulator } from './demo-ticker.simulator.js';
import { Instrument } from './instrument.entity.js';
import { TickerController } from './ticker.controller.js';
import { TickerService } from './ticker.service.js';

/** Trading prices: instruments, ticks, quotes, SSE and polls, demo simulator. */
@Module({
  imports: [TypeOrmModule.forFeature([Instrument])],
  controllers: [TickerController, AdminTickerController],
  providers: [TickerService, DemoTickerSimulator],
  exports: [TickerService],
})
export class TickerModule {}
