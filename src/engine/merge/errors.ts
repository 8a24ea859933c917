/** Bad merge input (different base models, mismatched shapes, bad parameters, an occupied output folder); one line. */
export class MergeError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' '));
    this.name = 'MergeError';
  }
}
