// Types for the parts of clamscan 2.4 that Shoebox uses (the package ships none).
declare module 'clamscan' {
  import type { Readable } from 'node:stream';

  export interface ScanResult {
    file: string | null;
    /** null when clamd gave no verdict: an empty stream, a timeout or an unparsable response. */
    isInfected: boolean | null;
    viruses: string[];
    resultString?: string;
    timeout?: boolean;
  }

  export interface ClamOptions {
    removeInfected?: boolean;
    quarantineInfected?: boolean | string;
    debugMode?: boolean;
    preference?: 'clamdscan' | 'clamscan';
    clamscan?: { active?: boolean };
    clamdscan?: {
      host?: string;
      port?: number;
      socket?: string | false;
      timeout?: number;
      localFallback?: boolean;
      active?: boolean;
      bypassTest?: boolean;
    };
  }

  export default class NodeClam {
    init(options: ClamOptions): Promise<NodeClam>;
    scanStream(stream: Readable): Promise<ScanResult>;
  }
}
