// The input and output types shared by every scenario.

import type { Config } from '../../nodes/common/config.js';
import type { BenchOptions } from '../cli.js';
import type { Progress } from '../progress.js';
import type { TargetCheck } from '../report.js';
import type { TransportContext } from '../transports/index.js';
import type { UploadInput } from '../transports/types.js';

export interface ScenarioContext {
  options: BenchOptions;
  config: Config;
  /** Absolute result directory of this run; server logs go here too. */
  runDir: string;
  inputs: UploadInput[];
  progress: Progress;
  transportContext: TransportContext;
}

export interface ScenarioOutput {
  /** Scenario-specific sections of result.json. */
  sections: Record<string, unknown>;
  targets: TargetCheck[];
  /** Markdown body of report.md, below the common header. */
  report: string;
  /** SVG files by file name. */
  svgs: Record<string, string>;
}
