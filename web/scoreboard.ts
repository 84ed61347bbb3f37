/**
 * The scoreboard: live, upcoming and recently finished matches with score, period and the last few
 * timeline events. The snapshot carries each match's `seq`; a `score` event whose `event.seq` is not
 * above it is already counted (a replay or a resume overlap) and skipped. A gap (a seq further
 * ahead) or an unknown match is fetched from `GET /scores/matches/:id`, which has the timeline.
 */
import { byId, flash, formatTime, h, replace } from './dom.js';
import type { FeedAuth } from './feed-auth.js';
import type {
  MatchEventView as MatchEvent,
  MatchStatus,
  MatchView,
  Score as ScoreFrame,
} from '../packages/client/src/wire.js';
import { type FeedState, followFeed } from './live-feed.js';
import { getJson } from '../packages/client/src/index.js';

type Status = MatchStatus;

interface MatchState {
  view: MatchView;
  timeline: Map<number, MatchEvent>;
  timelineLoaded: boolean;
}

const TIMELINE_SHOWN = 4;
const MAX_TIMELINE_LOADS = 30;
const UPCOMING_REFRESH_MS = 30_000;
const PERIOD_PREFIX: Record<string, string> = { football: 'H', basketball: 'Q', hockey: 'P' };

export class Scoreboard {
  private readonly matches = new Map<string, MatchState>();
  /** Matches being fetched, with the frames that arrived meanwhile. */
  private readonly fetching = new Map<string, ScoreFrame[]>();
  private renderQueued = false;
  private readonly changed = new Set<string>();

  constructor(
    private readonly auth: FeedAuth,
    private readonly onState: (state: FeedState) => void,
  ) {}

  start(): void {
    followFeed(
      this.auth,
      'scores',
      (event) => {
        if (event.type === 'snapshot') this.snapshot(event.data.matches);
        else if (event.type === 'score') this.apply(event.data);
      },
      this.onState,
    );
    // A new match makes no feed event until its kickoff: look for upcoming ones now and then.
    setInterval(() => void this.refreshUpcoming(), UPCOMING_REFRESH_MS);
  }

  private snapshot(views: MatchView[]): void {
    const keep = new Set(views.map((view) => view.id));
    for (const id of this.matches.keys()) if (!keep.has(id)) this.matches.delete(id);
    let loads = 0;
    for (const view of views) {
      const state = this.matches.get(view.id);
      if (state && state.view.seq >= view.seq) continue;
      this.matches.set(view.id, { view, timeline: state?.timeline ?? new Map(), timelineLoaded: false });
      // Timelines of live matches only (a snapshot may hold hundreds of matches).
      if (view.status === 'live' && view.seq > 0 && loads++ < MAX_TIMELINE_LOADS) void this.load(view.id);
    }
    this.render();
  }

  private apply(frame: ScoreFrame): void {
    const pending = this.fetching.get(frame.matchId);
    if (pending) return void pending.push(frame);
    const state = this.matches.get(frame.matchId);
    if (!state) return void this.load(frame.matchId, [frame]);
    const { view } = state;
    const seq = frame.event.seq;
    if (seq <= view.seq) return; // already counted
    if (seq > view.seq + 1) return void this.load(frame.matchId, [frame]); // a gap: the server has it
    Object.assign(view, { home: frame.home, away: frame.away, status: frame.status, period: frame.event.period, seq });
    state.timeline.set(seq, frame.event);
    this.changed.add(frame.matchId);
    this.render();
  }

  /** The match with its timeline from the API; frames that arrive meanwhile are applied after it. */
  private async load(id: string, frames: ScoreFrame[] = []): Promise<void> {
    if (this.fetching.has(id)) return void this.fetching.get(id)!.push(...frames);
    this.fetching.set(id, [...frames]);
    try {
      const match = await getJson<MatchView & { timeline: MatchEvent[] }>(`/scores/matches/${id}`);
      const { timeline, ...view } = match;
      const state = this.matches.get(id);
      const merged = state?.timeline ?? new Map<number, MatchEvent>();
      for (const event of timeline) merged.set(event.seq, event);
      if (!state || state.view.seq <= view.seq) {
        this.matches.set(id, { view, timeline: merged, timelineLoaded: true });
        if (state && state.view.seq < view.seq) this.changed.add(id);
      }
    } catch {
      // gone or unreachable: the next frame for it tries again
    } finally {
      const waiting = this.fetching.get(id) ?? [];
      this.fetching.delete(id);
      for (const frame of waiting) if (this.matches.has(id)) this.apply(frame);
      this.render();
    }
  }

  private async refreshUpcoming(): Promise<void> {
    try {
      const { items } = await getJson<{ items: MatchView[] }>('/scores/matches?status=scheduled&limit=100');
      let added = false;
      for (const view of items) {
        if (this.matches.has(view.id)) continue;
        this.matches.set(view.id, { view, timeline: new Map(), timelineLoaded: true });
        added = true;
      }
      if (added) this.render();
    } catch {
      // next time
    }
  }

  /** Coalesces bursts of events into one DOM update per frame. */
  private render(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderNow();
    });
  }

  private renderNow(): void {
    const all = [...this.matches.values()].sort(
      (a, b) => a.view.startsAt.localeCompare(b.view.startsAt) || a.view.id.localeCompare(b.view.id),
    );
    const groups: [Status, string][] = [
      ['live', 'scores-live'],
      ['scheduled', 'scores-upcoming'],
      ['finished', 'scores-finished'],
    ];
    for (const [status, listId] of groups) {
      const list = byId<HTMLUListElement>(listId);
      let shown = all.filter((state) => state.view.status === status);
      if (status === 'finished') shown = shown.reverse().slice(0, 6);
      replace(
        list,
        ...(shown.length > 0
          ? shown.map((state) => this.card(state))
          : [h('li', { className: 'empty', text: 'None right now' })]),
      );
    }
    this.changed.clear();
  }

  private card({ view, timeline }: MatchState): HTMLLIElement {
    const events = [...timeline.values()].sort((a, b) => b.seq - a.seq).slice(0, TIMELINE_SHOWN);
    const score = h('span', {
      className: 'score',
      text: view.status === 'scheduled' ? 'vs' : `${view.home} – ${view.away}`,
    });
    const card = h(
      'li',
      { className: `match ${view.status}`, data: { matchId: view.id, seq: view.seq } },
      h(
        'article',
        { attrs: { 'aria-label': `${view.homeTeam} vs ${view.awayTeam}` } },
        h(
          'div',
          { className: 'teams' },
          h('span', { className: 'home', text: view.homeTeam }),
          score,
          h('span', { className: 'away', text: view.awayTeam }),
        ),
        h(
          'div',
          { className: 'meta' },
          h('span', { className: 'sport', text: view.sport }),
          ' · ',
          h('span', { className: 'period', text: periodLabel(view) }),
        ),
        events.length > 0
          ? h(
              'ol',
              { className: 'timeline', attrs: { 'aria-label': 'Latest events' } },
              ...events.map((event) => h('li', { text: describe(event, view) })),
            )
          : null,
      ),
    );
    if (this.changed.has(view.id)) flash(card, 'flash-up');
    return card;
  }
}

function periodLabel(view: MatchView): string {
  if (view.status === 'scheduled') return `starts ${formatTime(view.startsAt)}`;
  if (view.status === 'finished') return 'final';
  return `live · ${PERIOD_PREFIX[view.sport] ?? 'P'}${view.period}`;
}

function describe(event: MatchEvent, view: MatchView): string {
  const at = formatTime(event.at);
  switch (event.kind) {
    case 'kickoff':
      return `${at} kickoff`;
    case 'score': {
      const team = event.team === 'home' ? view.homeTeam : view.awayTeam;
      return `${at} ${team} +${event.points ?? 1} (${event.home}–${event.away})`;
    }
    case 'period':
      return `${at} ${PERIOD_PREFIX[view.sport] ?? 'P'}${event.period} starts`;
    case 'final':
      return `${at} final ${event.home}–${event.away}`;
  }
}
