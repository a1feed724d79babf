// The one error an invalid spec raises: every problem, each naming its field.
export class SpecError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid cluster spec:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SpecError';
  }
}
