/**
 * The one kind of error that means "the request was wrong": an unknown name, an argument out
 * of range, a time that is not ISO-8601. Engines and resolvers throw it (or a subclass) for
 * what the caller can fix; transports show its message to the caller (GraphQL
 * `BAD_USER_INPUT`). Anything else thrown while answering is Tally's own failure: logged with
 * its stack, counted, and shown to the caller only as a generic internal error.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
