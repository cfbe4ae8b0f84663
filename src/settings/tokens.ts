/** Injection tokens of values that are not classes. */
export const SETTINGS = Symbol('SETTINGS');
export const PIPELINE = Symbol('PIPELINE');
export const CLOCK = Symbol('CLOCK');
export const LOGGER = Symbol('LOGGER');
export const CHANGES = Symbol('CHANGES');
