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
 * Watches the scripts directory and calls onChange once per burst of file
 * events. Rebuilds never overlap: events arriving during a rebuild schedule
 * one more rebuild afterwards, so the last save always wins.
 */
export class ScriptWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<string>();
  private running: Promise<void> | undefined;

  constructor(private readonly opts: ScriptWatcherOptions) {}

  async start(): Promise<void> {
    const w = watch(this.opts.dir, {
      ignoreInitial: true,
      // Only Lua sources matter; dotfiles are editor swap files.
      ignored: (path, stats) => /(^|[/\\])\.[^/\\]/.test(path) || (stats?.isFile() === true && !path.endsWith('.lua')),
    });
    this.watcher = w;
    w.on('all', (_event, path) => this.schedule(path));
    w.on('error', (err) => this.opts.logger.error({ err: String(err) }, 'script watcher error'));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
    await this.running;
  }

  private schedule(path: string): void {
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
