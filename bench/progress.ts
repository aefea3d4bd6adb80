// A one-line progress indicator on stderr. On a terminal the line is redrawn
// in place up to 4 times a second. Elsewhere (CI logs, tests) a full line is
// printed every 5 seconds, so logs stay readable.

const TTY_INTERVAL_MS = 250;
const LOG_INTERVAL_MS = 5_000;

export class Progress {
  private lastDrawn = 0;
  private lastLength = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly enabled = true) {}

  /** Shows `line`, unless one was shown less than the interval ago and `force` is false. */
  update(line: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDrawn < (this.tty ? TTY_INTERVAL_MS : LOG_INTERVAL_MS)) return;
    this.lastDrawn = now;
    if (this.tty) {
      const width = process.stderr.columns || 120;
      const text = line.length >= width ? `${line.slice(0, width - 2)}…` : line;
      process.stderr.write(`\r${text}${' '.repeat(Math.max(0, this.lastLength - text.length))}`);
      this.lastLength = text.length;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }

  /** Prints a message on its own line, below the progress line. */
  log(message: string): void {
    if (this.tty && this.lastLength > 0) process.stderr.write('\n');
    this.lastLength = 0;
    process.stderr.write(`${message}\n`);
  }

  /** Ends the progress line. */
  done(): void {
    if (this.tty && this.lastLength > 0) process.stderr.write('\n');
    this.lastLength = 0;
  }
}
