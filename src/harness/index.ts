/**
 * The fixture harness's programmatic API (package entry "moonwatch/harness").
 * Run fixtures from vitest or any script:
 *
 *   const result = await runFixtureFile('examples/fixtures/dha/blocks-harvester.yaml');
 *   expect(result.ok).toBe(true);
 */
export { runFixture, runFixtureFile, type RunOptions } from './runner.ts';
export { loadFixture, loadFixtureFile, fixtureFromObject } from './load-fixture.ts';
export { discoverFixtures } from './discover.ts';
export { formatResult, formatSummary } from './report.ts';
export { watchFixtures, type FixtureWatcher, type WatchOptions } from './watch.ts';
export {
  FixtureError,
  FixtureAddressError,
  FixturePolicyError,
  FixtureReadError,
  FixtureSchemaError,
  FixtureStepError,
  FixtureSyntaxError,
  type SourcePos,
} from './errors.ts';
export type {
  FixtureFailure,
  FixtureResult,
  FixtureRunError,
  FixtureStats,
  TranscriptLine,
} from './result.ts';
export type {
  Check,
  Command,
  Fixture,
  MessageSpec,
  NumberMatch,
  PolicySpec,
  ReplyExpectation,
  Step,
  TextMatch,
} from './fixture.ts';
