import { Module, type DynamicModule } from '@nestjs/common';
import { DemoModule } from './demo/demo.module.js';
import { TallyGraphqlModule } from './graphql/graphql.module.js';
import { IngestModule } from './ingest/ingest.module.js';
import { OpsModule } from './ops/ops.module.js';
import { SettingsModule, type TallyRuntime } from './settings/settings.module.js';

/** The composition root: settings and pipeline in, transports around the engine. */
@Module({})
export class AppModule {
  static forRoot(runtime: TallyRuntime): DynamicModule {
    return { module: AppModule, imports: [SettingsModule.forRoot(runtime), OpsModule, IngestModule, TallyGraphqlModule, DemoModule] };
  }
}
