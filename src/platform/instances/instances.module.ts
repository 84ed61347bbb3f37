import { Module } from '@nestjs/common';
import { AdminInstancesController } from './admin-instances.controller.js';
import { InstanceRegistry } from './instance-registry.js';

/** The heartbeat registry of running instances and its admin routes. */
@Module({
  controllers: [AdminInstancesController],
  providers: [InstanceRegistry],
})
export class InstancesModule {}
