// Every committed migration, in order. `npm run migration:generate -- src/platform/database/migrations/<Name>`
// writes a new file here (against an up-to-date database); add its class to this list.
import { Init1795300207983 } from './1795300207983-Init.js';
import { Instruments1795302883660 } from './1795302883660-Instruments.js';
import { OutboundWebhooks1795305931252 } from './1795305931252-OutboundWebhooks.js';

export const migrations = [Init1795300207983, Instruments1795302883660, OutboundWebhooks1795305931252];
