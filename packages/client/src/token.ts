/** The token the feeds send: a fixed one, or one from `getToken`, fetched again on `refresh` or a 401. */
export class TokenSource {
  private pending?: Promise<string | undefined>;

  constructor(
    private token: string | undefined,
    private readonly getToken?: () => Promise<string>,
  ) {}

  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  async get(): Promise<string | undefined> {
    if (this.token === undefined && this.getToken) return this.renew();
    return this.pending ?? this.token;
  }

  /** One call of `getToken` however many ask at once; on failure the old token stays. */
  renew(): Promise<string | undefined> {
    if (!this.getToken) return Promise.resolve(this.token);
    this.pending ??= this.getToken()
      .then((token) => (this.token = token))
      .catch(() => this.token)
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
