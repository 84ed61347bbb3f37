/**
 * The data source for the TypeORM CLI (`npm run migration:generate` / `migration:run`), built from
 * the same options as the app. Run from `dist/`: entities are the compiled `*.entity.js` files.
 */
import { DataSource } from 'typeorm';
import { loadConfig } from '../../config/app-config.js';
import { dataSourceOptions } from './data-source.options.js';

const { config } = loadConfig(process.env);

export default new DataSource({
  ...dataSourceOptions(config.database.url, 2),
  entities: [new URL('../../**/*.entity.js', import.meta.url).pathname],
});
