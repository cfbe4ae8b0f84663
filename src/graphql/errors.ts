import { InputError } from '../input-error.js';

/** A name in a request (leaderboard, geo index, fence) that the pipeline does not declare. */
export class UnknownNameError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownNameError';
  }
}
