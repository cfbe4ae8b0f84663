import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Settings } from './settings.js';
import { CLOCK, PIPELINE, SETTINGS } from './tokens.js';

export interface TallyRuntime {
  settings: Settings;
  pipeline: Pipeline;
  /** The wall clock; tests may pass their own. */
  clock?: () => number;
}

/** Provides the validated settings, the compiled pipeline and the clock to every module. */
@Global()
@Module({})
export class SettingsModule {
  static forRoot(runtime: TallyRuntime): DynamicModule {
    return {
      module: SettingsModule,
      providers: [
        { provide: SETTINGS, useValue: runtime.settings },
        { provide: PIPELINE, useValue: runtime.pipeline },
        { provide: CLOCK, useValue: runtime.clock ?? Date.now },
      ],
      exports: [SETTINGS, PIPELINE, CLOCK],
    };
  }
}
