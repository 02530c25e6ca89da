import { MoonwatchError } from '../errors.ts';

/**
 * Errors of the audit store. Messages are written for a Lua script author:
 * the msys layer shows them verbatim, so each names the offending input and,
 * where one exists, the fix.
 */

export class BadAddressError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_BAD_ADDRESS', message);
  }
}

export class BadMaskError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_BAD_MASK', message);
  }
}

export class CidrHostBitsError extends MoonwatchError {
  /** The network address with host bits cleared, e.g. "10.0.0.0/8". */
  readonly suggestion: string;

  constructor(text: string, suggestion: string) {
    super('MW_ERR_CIDR_HOST_BITS', `CIDR "${text}" has host bits set: did you mean ${suggestion}?`);
    this.suggestion = suggestion;
  }
}

export class NoPeerError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_NO_PEER', message);
  }
}

export class BadMonitorError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_BAD_MONITOR', message);
  }
}

export class UnknownMonitorError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_UNKNOWN_MONITOR', message);
  }
}

export class UnknownSeriesError extends MoonwatchError {
  constructor(name: string) {
    super('MW_ERR_UNKNOWN_SERIES', `audit series "${name}" is not defined (call msys.audit_series.define first)`);
  }
}

export class BadSeriesError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_BAD_SERIES', message);
  }
}

export class BadCountError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_BAD_COUNT', message);
  }
}

export class BadMetricError extends MoonwatchError {
  constructor(metric: unknown) {
    super('MW_ERR_BAD_METRIC', `unknown audit metric ${JSON.stringify(String(metric))}: expected connections, receptions or rejections`);
  }
}

export class UnknownServiceError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_UNKNOWN_SERVICE', message);
  }
}
