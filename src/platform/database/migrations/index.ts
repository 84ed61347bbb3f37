// Every committed migration, in order. `npm run migration:generate -- src/platform/database/migrations/<Name>`
// writes a new file here (against an up-to-date database); add its class to this list.
import { Init1795300207983 } from './1795300207983-Init.js';
import { Instruments1795302883660 } from './1795302883660-Instruments.js';
import { Chat1795305606739 } from './1795305606739-Chat.js';
import { Scores1795305704912 } from './1795305704912-Scores.js';
import { InboundWebhooks1795305741936 } from './1795305741936-InboundWebhooks.js';
import { OutboundWebhooks1795305931252 } from './1795305931252-OutboundWebhooks.js';
import { Entitlements1795400000000 } from './1795400000000-Entitlements.js';
import { OutboxPartitions1795500000000 } from './1795500000000-OutboxPartitions.js';
import { OutboxTraceContext1795600000000 } from './1795600000000-OutboxTraceContext.js';
import { OutboxKeyBackoff1795700000000 } from './1795700000000-OutboxKeyBackoff.js';
import { InboundTraceContext1795800000000 } from './1795800000000-InboundTraceContext.js';

export const migrations = [
  Init1795300207983,
  Instruments1795302883660,
  Chat1795305606739,
  Scores1795305704912,
  InboundWebhooks1795305741936,
  OutboundWebhooks1795305931252,
  Entitlements1795400000000,
  OutboxPartitions1795500000000,
  OutboxTraceContext1795600000000,
  OutboxKeyBackoff1795700000000,
  InboundTraceContext1795800000000,
];
