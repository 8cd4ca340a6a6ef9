/**
 * Input limits (issue 19, items 6 and 7) as pure functions: JSON values nested or sized past the
 * bounds are refused before anything is logged, deep values compare without recursion, and
 * criteria that no datastore answers the same way are refused with a 400 code.
 */
import { expect } from 'chai';
import { isTransactError } from '../../../lib/core/errors';
import type { ModelInfo } from '../../../lib/core/model-info';
import { changedFields } from '../../../lib/core/operations';
import { parseQuery } from '../../../lib/query/criteria';
import { validateOperation } from '../../../lib/core/validation';
import { columnMap, compileWhere } from '../../../lib/waterline-api/criteria';
import { modelInfo } from '../../support/model-info';

/** `{"a": {"a": … 1 …}}`, `levels` objects deep, built without recursion. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function refusal(run: () => unknown): { code: string; message: string; path?: string } {
  try {
    run();
  } catch (err) {
    if (!isTransactError(err)) throw err;
    return { code: err.code, message: err.message, path: err.path };
  }
  throw new Error('expected a refusal');
}

const investor: ModelInfo = modelInfo(
  'investor',
  { id: { type: 'string' }, name: { type: 'string' }, cash: { type: 'number' }, active: { type: 'boolean' }, meta: { type: 'json' }, createdAt: { type: 'number' }, updatedAt: { type: 'number' } },
  { createdAt: 'createdAt', updatedAt: 'updatedAt' },
);

describe('input limits (pure)', function () {
  describe('JSON values written by an operation', function () {
    const update = (meta: unknown): unknown => ({ op: 'update', model: 'account', id: 'a1', set: { owner: 'x', meta } });

    it('accepts a value nested 32 levels, refuses 33 and deeper with validation_failed on the attribute, whatever the depth', function () {
      expect(() => validateOperation(update(nested(32)), 'ops.0')).not.to.throw();
      for (const levels of [33, 1_500, 3_000, 100_000]) {
        const refused = refusal(() => validateOperation(update(nested(levels)), 'ops.0'));
        expect(refused, `${levels} levels`).to.include({ code: 'validation_failed', path: 'ops.0.set.meta' });
        expect(refused.message, `${levels} levels`).to.match(/nested deeper than 32 levels/).and.not.to.match(/stack/i);
      }
      // Arrays count as levels too.
      let list: unknown = 1;
      for (let i = 0; i < 40; i++) list = [list];
      expect(refusal(() => validateOperation(update(list), 'ops.0'))).to.include({ code: 'validation_failed', path: 'ops.0.set.meta' });
    });

    it('refuses a value of more than 64 KiB of JSON, accepts one just under', function () {
      expect(() => validateOperation(update({ text: 'x'.repeat(60 * 1024) }), 'ops.0')).not.to.throw();
      const wide = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
      for (const meta of [{ text: 'x'.repeat(65 * 1024) }, wide, Array.from({ length: 40_000 }, () => 1)]) {
        const refused = refusal(() => validateOperation(update(meta), 'ops.0'));
        expect(refused).to.include({ code: 'validation_failed', path: 'ops.0.set.meta' });
        expect(refused.message).to.match(/larger than 65536 bytes/);
      }
    });

    it('still names a NaN or Infinity by its path', function () {
      expect(refusal(() => validateOperation(update({ a: [1, Infinity] }), 'ops.0'))).to.include({ code: 'validation_failed', message: '"meta.a.1" must be a finite number' });
    });
  });

  it('compares values of any depth without recursion (a document stored before the bounds existed)', function () {
    const deep = (leaf: unknown): Record<string, unknown> => ({ id: 'a1', meta: nested(100_000, leaf), owner: 'x' });
    expect(changedFields(deep(1), deep(1))).to.deep.equal({});
    const changed = changedFields(deep(1), { ...deep(2), owner: 'y' });
    expect(Object.keys(changed).sort()).to.deep.equal(['meta', 'owner']);
    expect(changedFields({ when: new Date(5), list: [1, { b: 2 }] }, { when: new Date(5), list: [1, { b: 2 }] })).to.deep.equal({});
    expect(Object.keys(changedFields({ a: { x: undefined } }, { a: {} }))).to.deep.equal(['a']);
  });

  describe('criteria of committed reads', function () {
    const refused = (criteria: unknown) => refusal(() => parseQuery(investor, criteria, { refuseHidden: true }));

    it('refuses operands of another type than the attribute\'s, in lists and comparisons alike', function () {
      expect(refused({ where: { cash: { in: [0, 'a', null, true] } } })).to.include({ code: 'validation_failed', path: 'where.cash.in.1' });
      expect(refused({ where: { createdAt: { '>': '2020-01-01' } } })).to.include({ code: 'validation_failed', path: 'where.createdAt.>' });
      expect(refused({ where: { name: 5 } })).to.include({ code: 'validation_failed', path: 'where.name' });
      expect(refused({ where: { active: { '!=': 'yes' } } })).to.include({ code: 'validation_failed', path: 'where.active.!=' });
      // The attribute's own type, and null, still go; json attributes compare with any scalar.
      expect(() => parseQuery(investor, { where: { cash: { in: [0, 5, null] }, name: null, createdAt: { '>': 5 }, meta: 'x' } })).not.to.throw();
    });

    it('refuses and/or nested past 8 levels, whatever the depth, and an or of null', function () {
      const chain = (key: 'or' | 'and', levels: number): unknown => {
        let where: unknown = { cash: 1 };
        for (let i = 0; i < levels; i++) where = { [key]: [where] };
        return where;
      };
      expect(() => parseQuery(investor, { where: chain('or', 8) })).not.to.throw();
      for (const [key, levels] of [['or', 9], ['or', 500], ['and', 200], ['or', 100_000]] as const) {
        const answer = refused({ where: chain(key, levels) });
        expect(answer.code, `${key} ${levels}`).to.equal('validation_failed');
        expect(answer.message, `${key} ${levels}`).to.match(/at most 8 levels/).and.not.to.match(/stack/i);
      }
      expect(refused({ where: { or: [null] } })).to.include({ code: 'validation_failed', path: 'where.or.0' });
      expect(refused({ where: { and: [{ cash: 1 }, 7] } })).to.include({ code: 'validation_failed', path: 'where.and.1' });
    });

    it('refuses the same inside an engine transaction\'s Waterline queries', function () {
      const columns = columnMap({ id: {}, cash: {} });
      let where: unknown = { cash: 1 };
      for (let i = 0; i < 500; i++) where = { or: [where] };
      expect(refusal(() => compileWhere(where, columns, 'investor')).code).to.equal('unsupported_query');
      expect(refusal(() => compileWhere({ or: [null] }, columns, 'investor')).code).to.equal('unsupported_query');
    });
  });
});
