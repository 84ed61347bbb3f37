import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminUsersController } from './admin-users.controller.js';
import { AuthController } from './auth.controller.js';
import { User } from './user.entity.js';
import { UsersService } from './users.service.js';

/** Users, their plan, token minting and demo sign-in. */
@Module({
  imports: [TypeOrmModule.forFeature([User])],
  controllers: [AdminUsersController, AuthController],
  providers: [UsersService],
  exports: [UsersService],
})
export class UsersModule {}
