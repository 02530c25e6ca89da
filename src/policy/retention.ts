/**
 * Bounds what a script generation keeps across sessions (module globals,
 * upvalues, module tables). Measuring that means walking the retained objects,
 * so it is done only when it could matter: what a generation retains can only
 * have grown by what its calls allocated since the last walk, so a walk runs
 * only once `retained + allocatedSinceWalk` passes the bound. A generation
 * that keeps little but makes plenty of garbage is walked rarely and cheaply.
 */
export const DEFAULT_MAX_RETAINED_BYTES = 16 * 1024 * 1024;

export class RetentionMeter {
  private sinceWalk = 0;
  private retained = 0;
  private over = false;

  constructor(
    readonly limit: number,
    private readonly measure: (limit: number) => number,
  ) {}

  /** True once the generation has been found to retain more than the limit. */
  get exceeded(): boolean {
    return this.over;
  }

  /** Bytes found by the last walk. */
  get lastMeasured(): number {
    return this.retained;
  }

  /** Charges one call's allocation; walks if the bound could have been passed. Returns exceeded. */
  note(allocated: number): boolean {
    if (this.over) return true;
    this.sinceWalk += allocated;
    if (this.retained + this.sinceWalk <= this.limit) return false;
    this.retained = this.measure(this.limit);
    this.sinceWalk = 0;
    this.over = this.retained > this.limit;
    return this.over;
  }
}
