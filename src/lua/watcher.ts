import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.ts';

export interface ScriptWatcherOptions {
  readonly dir: string;
  readonly debounceMs: number;
  readonly logger: Logger;
  /** Called once per burst of changes, after the debounce. */
  readonly onChange: (paths: string[]) => Promise<void>;
}

/**
 * chokidar drops a second `change` event for the same file within 50 ms of
 * the first (index.js `_throttle(EV.CHANGE, path, 50)`), with no trailing
 * event: an editor that saves twice in quick succession would leave the first
 * save live. So every burst of events is followed by one more check after the
 * throttle window; an unchanged snapshot makes that check cheap.
 */
const TRAILING_CHECK_MS = 75;
const TRAILING = '(trailing check)';

/**
 * Watches the scripts directory and calls onChange once per burst of file
 * events. Rebuilds never overlap: events arriving during a rebuild schedule
 * one more rebuild afterwards, so the last save always wins.
 */
export class ScriptWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private trailing: NodeJS.Timeout | undefined;
  private pending = new Set<string>();
  private running: Promise<void> | undefined;

  constructor(private readonly opts: ScriptWatcherOptions) {}

  async start(): Promise<void> {
    const w = watch(this.opts.dir, {
      ignoreInitial: true,
      // Only Lua and Sieve sources matter; dotfiles are editor swap files.
      ignored: (path, stats) => /(^|[/\\])\.[^/\\]/.test(path) || (stats?.isFile() === true && !path.endsWith('.lua') && !path.endsWith('.siv')),
    });
    this.watcher = w;
    w.on('all', (_event, path) => this.schedule(path));
    w.on('error', (err) => this.opts.logger.error({ err: String(err) }, 'script watcher error'));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.trailing) clearTimeout(this.trailing);
    this.timer = this.trailing = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
    await this.running;
  }

  private schedule(path: string): void {
    if (path !== TRAILING) {
      if (this.trailing) clearTimeout(this.trailing);
      this.trailing = setTimeout(() => {
        this.trailing = undefined;
        if (this.watcher) this.schedule(TRAILING);
      }, this.opts.debounceMs + TRAILING_CHECK_MS);
    }
    this.pending.add(path);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.fire(), this.opts.debounceMs);
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.running) {
      // Re-check after the current rebuild; the pending set is kept.
      await this.running;
      if (this.timer || !this.watcher) return;
    }
    const paths = [...this.pending];
    this.pending.clear();
    if (paths.length === 0) return;
    this.running = this.opts.onChange(paths).catch((err: unknown) => {
      this.opts.logger.error({ err: String(err) }, 'script rebuild failed');
    });
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    if (this.pending.size > 0 && !this.timer && this.watcher) this.schedule([...this.pending][0]!);
  }
}
