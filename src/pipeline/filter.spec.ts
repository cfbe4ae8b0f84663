import fc from 'fast-check';
import { compileFilter, filterProblem } from './filter.js';

describe('where: filters', () => {
  it.each([
    ['status == "declined"', { status: 'declined' }, true],
    ['status == "declined"', { status: 'approved' }, false],
    ['kind == "enter"', { kind: 'exit' }, false],
    ['amount > 100 && country != "US"', { amount: 150, country: 'FR' }, true],
    ['amount > 100 && country != "US"', { amount: 150.5, country: 'US' }, false],
    ['amount > 100 && country != "US"', { amount: 99.9, country: 'FR' }, false],
    ['card.level >= 2 || vip', { card: { level: 1 }, vip: true }, true],
    ['has(card.level) && card.level >= 2', { card: {} }, false],
    ['size(tags) > 1 && "fraud" in tags', { tags: ['x', 'fraud'] }, true],
    ['merchant.startsWith("m-")', { merchant: 'm-7' }, true],
  ])('%s on %j is %s', (expression, event, expected) => {
    expect(filterProblem(expression)).toBeUndefined();
    expect(compileFilter(expression)(event)).toBe(expected);
  });

  it('is false, never a throw, when the event lacks a field or has another type', () => {
    const f = compileFilter('amount > 100');
    expect(f({})).toBe(false);
    expect(f({ amount: '150' })).toBe(false);
    expect(f({ amount: null })).toBe(false);
    expect(compileFilter('constructor == 1')({})).toBe(false);
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (event) => typeof f(event) === 'boolean'));
  });

  it.each([
    [0, 'amount >', /Unexpected token/],
    [1, 'amount + 1', /gives int, not a condition/],
    [2, '"a" + 1 == 2', /no such overload/],
    [3, 'nope(1)', /no matching overload/],
    [4, '[' + '1,'.repeat(200) + '1] == []', /Exceeded maxListElements/],
  ] as [number, string, RegExp][])('refuses expression %d at load', (_i, expression, problem) => {
    expect(filterProblem(expression)).toMatch(problem);
  });
});
