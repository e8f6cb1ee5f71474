/**
 * A live SVG marble diagram: one lane per stream, values drawn as labelled marbles scrolling
 * right-to-left along a time axis ("now" at the right edge), completion as a vertical bar, error
 * as an X, an unsubscribe before either as a dashed bar.
 *
 * Every mark is a `<g class="mark" data-lane="<lane>" data-kind="next|complete|error|unsubscribe">`
 * inside `<g class="lane-marks" data-lane="<lane>">`, so specs can count marbles
 * (`[data-lane="fast"][data-kind="next"]`); marks that scrolled out of the window are removed,
 * `count()` (and the lane's `data-next` / `data-complete` / `data-error` attributes) keep totals.
 *
 * @example
 * const diagram = new MarbleDiagram(document.querySelector('#marbles')!, { title: 'interval' });
 * const ticks$ = interval(400).pipe(diagram.tap('interval(400)'));
 * diagram.track('even × 10', ticks$.pipe(filter((n) => n % 2 === 0), map((n) => n * 10)));
 */
import { Observable, Subscription, type MonoTypeOperatorFunction } from 'rxjs';

export type MarbleKind = 'next' | 'complete' | 'error' | 'unsubscribe';

export interface MarbleDiagramConfig {
  /** How much time the visible window spans (default 10 000 ms). */
  windowMs?: number;
  /** Caption above the diagram. */
  title?: string;
  /** Height of one lane in px (default 44). */
  laneHeight?: number;
}

export interface LaneConfig<T> {
  /** Text inside the marble (default: String(value), or compact JSON); cut to 4 characters. */
  label?: (value: T) => string;
  /** Marble colour, fixed or per value (e.g. per key); default: the lane's palette colour. */
  color?: string | ((value: T) => string);
  /** Hover text of a marble (default: the full label / JSON of the value). */
  tooltip?: (value: T) => string;
}

interface Mark {
  /** Where it is drawn, in ms since the diagram started (may be nudged right of `time`). */
  at: number;
  element: SVGGElement;
}

interface Lane {
  name: string;
  index: number;
  color: string;
  marks: Mark[];
  group: SVGGElement;
  baseline: SVGLineElement;
  label: SVGTextElement;
  counts: Record<MarbleKind, number>;
  lastAt: number;
}

const svgNs = 'http://www.w3.org/2000/svg';
const palette = [
  '#2f6fde',
  '#e0662b',
  '#1c9a6c',
  '#a54bd1',
  '#d23d6b',
  '#3aa0b8',
  '#b08a14',
  '#5b6577',
];
const gutter = 140;
const nowInset = 30;
const radius = 12;
const maxLabelChars = 4;
let diagramIds = 0;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
  parent?: Element,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  parent?.appendChild(element);
  return element;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value === undefined) return 'undefined';
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const json = JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'bigint' ? String(v) : v,
    ) as string | undefined;
    return json ?? typeof value;
  } catch {
    return Object.prototype.toString.call(value); // e.g. a circular object
  }
}

const shorten = (text: string) =>
  text.length <= maxLabelChars ? text : text.slice(0, maxLabelChars - 1) + '…';

/** A live marble diagram rendering Observables into an SVG inside `container`. */
export class MarbleDiagram {
  /** The `<figure>` holding the diagram. */
  readonly element: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly content: SVGGElement;
  private readonly staticLayer: SVGGElement;
  private readonly gridRect: SVGRectElement;
  private readonly grid: SVGPatternElement;
  private readonly gridLine: SVGLineElement;
  private readonly clipRect: SVGRectElement;
  private readonly nowLine: SVGLineElement;
  private readonly windowLabel: SVGTextElement;
  private readonly nowLabel: SVGTextElement;
  private readonly lanes = new Map<string, Lane>();
  private readonly subscriptions = new Subscription();
  private readonly resizeObserver: ResizeObserver;
  private readonly origin = performance.now();
  private readonly windowMs: number;
  private readonly laneHeight: number;
  private width = 640;
  private frame = 0;
  private disposed = false;

  constructor(container: HTMLElement, config: MarbleDiagramConfig = {}) {
    this.windowMs = config.windowMs ?? 10_000;
    this.laneHeight = config.laneHeight ?? 44;
    if (!(this.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${this.windowMs}`);
    const id = `marbles-${++diagramIds}`;

    this.element = document.createElement('figure');
    this.element.className = 'marble-diagram';
    this.element.dataset.marbleDiagram = '';
    if (config.title) {
      const caption = document.createElement('figcaption');
      caption.textContent = config.title;
      this.element.appendChild(caption);
    }
    this.svg = svg('svg', { class: 'marble-svg', width: '100%', role: 'img' });
    this.svg.setAttribute('aria-label', config.title ?? 'marble diagram');
    this.element.appendChild(this.svg);

    const defs = svg('defs', {}, this.svg);
    const clip = svg('clipPath', { id: `${id}-clip` }, defs);
    this.clipRect = svg('rect', { x: gutter, y: 0, height: 0, width: 0 }, clip);
    this.grid = svg(
      'pattern',
      { id: `${id}-grid`, patternUnits: 'userSpaceOnUse', height: 1 },
      defs,
    );
    this.gridLine = svg('line', { class: 'grid-line', x1: 0, x2: 0, y1: 0, y2: 0 }, this.grid);
    this.gridLine.setAttribute('stroke', '#e3e6ec');
    this.gridRect = svg('rect', { x: gutter, y: 0, fill: `url(#${id}-grid)` }, this.svg);
    this.staticLayer = svg('g', { class: 'lane-labels' }, this.svg);
    const clipped = svg('g', { 'clip-path': `url(#${id}-clip)` }, this.svg);
    this.content = svg('g', { class: 'lanes-content' }, clipped);
    this.nowLine = svg('line', { class: 'now-line', stroke: '#9aa3b2', 'stroke-dasharray': '3 3' });
    this.svg.appendChild(this.nowLine);
    this.windowLabel = svg('text', { class: 'axis-label', x: gutter }, this.svg);
    this.windowLabel.textContent = `−${(this.windowMs / 1000).toFixed(this.windowMs % 1000 ? 1 : 0)} s`;
    this.nowLabel = svg('text', { class: 'axis-label', 'text-anchor': 'middle' }, this.svg);
    this.nowLabel.textContent = 'now';

    container.appendChild(this.element);
    this.width = this.svg.getBoundingClientRect().width || this.width;
    this.resizeObserver = new ResizeObserver(([entry]) => {
      const width = entry?.contentRect.width ?? 0;
      if (width > 0 && width !== this.width) {
        this.width = width;
        this.layout();
      }
    });
    this.resizeObserver.observe(this.svg);
    this.layout();
    this.frame = requestAnimationFrame(this.tick);
  }

  /** Adds lane `name` now (lanes show in creation order; tracking or marking adds them too). */
  addLane(name: string): void {
    this.lane(name);
  }

  /** Creates the lane `name`, or returns the existing one. */
  private lane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (lane) return lane;
    const index = this.lanes.size;
    const y = this.laneY(index);
    const label = svg('text', { class: 'lane-label', x: 8, y: y + 4 }, this.staticLayer);
    label.textContent = name.length > 17 ? name.slice(0, 16) + '…' : name;
    svg('title', {}, label).textContent = name;
    const baseline = svg('line', { class: 'lane-baseline', x1: gutter, y1: y, y2: y });
    baseline.setAttribute('stroke', '#c5cad3');
    baseline.setAttribute('stroke-width', '2');
    this.staticLayer.appendChild(baseline);
    const group = svg('g', { class: 'lane-marks', 'data-lane': name, 'data-state': 'idle' });
    this.content.appendChild(group);
    lane = {
      name,
      index,
      color: palette[index % palette.length],
      marks: [],
      group,
      baseline,
      label,
      counts: { next: 0, complete: 0, error: 0, unsubscribe: 0 },
      lastAt: -Infinity,
    };
    this.lanes.set(name, lane);
    this.layout();
    return lane;
  }

  /** Subscribes to `source$` and draws its notifications in lane `lane` until unsubscribed. */
  track<T>(lane: string, source$: Observable<T>, config: LaneConfig<T> = {}): Subscription {
    return this.tracked(source$.pipe(this.tap(lane, config))).subscribe();
  }

  /**
   * An operator drawing every notification passing through in lane `lane`, for showing each
   * stage of a pipeline without subscribing to it twice. The lane is created now.
   */
  tap<T>(lane: string, config: LaneConfig<T> = {}): MonoTypeOperatorFunction<T> {
    this.lane(lane);
    return (source) =>
      new Observable<T>((subscriber) => {
        let ended = false;
        this.setState(lane, 'active');
        const subscription = source.subscribe({
          next: (value) => {
            this.mark(lane, 'next', value, config);
            subscriber.next(value);
          },
          error: (err: unknown) => {
            ended = true;
            this.mark(lane, 'error', err);
            subscriber.error(err);
          },
          complete: () => {
            ended = true;
            this.mark(lane, 'complete');
            subscriber.complete();
          },
        });
        return () => {
          subscription.unsubscribe();
          if (!ended && !this.disposed) this.mark(lane, 'unsubscribe');
        };
      });
  }

  /** Draws one notification by hand (for events that are not an Observable). */
  mark<T>(lane: string, kind: MarbleKind, value?: T, config: LaneConfig<T> = {}): void {
    if (this.disposed) return;
    const target = this.lane(lane);
    const now = performance.now() - this.origin;
    // Synchronous bursts would stack on one spot: nudge each marble a little to the right.
    const gapMs = ((radius * 2 + 2) * this.windowMs) / this.plotWidth();
    const at = Math.min(Math.max(now, target.lastAt + gapMs), now + 2 * gapMs);
    target.lastAt = at;
    const element = svg('g', { class: `mark mark-${kind}`, 'data-lane': lane, 'data-kind': kind });
    element.setAttribute('transform', `translate(${this.x(at)},${this.laneY(target.index)})`);
    this.drawMark(element, kind, value, target.color, config);
    target.group.appendChild(element);
    target.marks.push({ at, element });
    target.counts[kind] += 1;
    target.group.setAttribute(`data-${kind}`, String(target.counts[kind]));
    if (kind !== 'next') this.setState(lane, kind === 'unsubscribe' ? 'unsubscribed' : kind);
  }

  /** Total marks drawn (including those scrolled away), optionally of one lane and/or kind. */
  count(lane?: string, kind: MarbleKind = 'next'): number {
    let total = 0;
    for (const l of this.lanes.values())
      if (lane === undefined || l.name === lane) total += l.counts[kind];
    return total;
  }

  /** Removes every mark and resets the counts; lanes and running subscriptions stay. */
  clear(): void {
    for (const lane of this.lanes.values()) {
      for (const mark of lane.marks) mark.element.remove();
      lane.marks = [];
      lane.lastAt = -Infinity;
      for (const kind of Object.keys(lane.counts) as MarbleKind[]) {
        lane.counts[kind] = 0;
        lane.group.removeAttribute(`data-${kind}`);
      }
    }
  }

  /** Unsubscribes everything tracked, stops animating and removes the diagram from the page. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    cancelAnimationFrame(this.frame);
    this.resizeObserver.disconnect();
    this.subscriptions.unsubscribe();
    this.element.remove();
  }

  private tracked<T>(source$: Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      const subscription = source$.subscribe(subscriber);
      this.subscriptions.add(subscription);
      return () => {
        this.subscriptions.remove(subscription);
        subscription.unsubscribe();
      };
    });
  }

  private setState(lane: string, state: string): void {
    const target = this.lanes.get(lane);
    if (!target) return;
    target.group.setAttribute('data-state', state);
    target.baseline.setAttribute('stroke-opacity', state === 'active' ? '1' : '0.45');
  }

  private drawMark<T>(
    element: SVGGElement,
    kind: MarbleKind,
    value: T | undefined,
    color: string,
    config: LaneConfig<T>,
  ): void {
    const half = radius + 2;
    if (kind === 'next') {
      const text = config.label ? config.label(value as T) : describe(value);
      const fill =
        typeof config.color === 'function' ? config.color(value as T) : (config.color ?? color);
      svg('circle', { r: radius, fill, stroke: '#fff', 'stroke-width': 1.5 }, element);
      const label = svg(
        'text',
        { class: 'marble-label', 'text-anchor': 'middle', y: 4, fill: '#fff' },
        element,
      );
      label.textContent = shorten(text);
      svg('title', {}, element).textContent = config.tooltip
        ? config.tooltip(value as T)
        : describe(value);
    } else if (kind === 'complete') {
      svg(
        'line',
        { x1: 0, x2: 0, y1: -half, y2: half, stroke: '#263040', 'stroke-width': 3 },
        element,
      );
      svg('title', {}, element).textContent = 'complete';
    } else if (kind === 'error') {
      const d = radius - 3;
      const stroke = { stroke: '#d22f2f', 'stroke-width': 3.5, 'stroke-linecap': 'round' };
      svg('line', { x1: -d, y1: -d, x2: d, y2: d, ...stroke }, element);
      svg('line', { x1: -d, y1: d, x2: d, y2: -d, ...stroke }, element);
      svg('title', {}, element).textContent = `error: ${describe(value)}`;
    } else {
      const dashed = { stroke: '#7b8496', 'stroke-width': 2, 'stroke-dasharray': '3 3' };
      svg('line', { x1: 0, x2: 0, y1: -half, y2: half, ...dashed }, element);
      svg('title', {}, element).textContent = 'unsubscribed';
    }
  }

  private readonly tick = (timestamp: number) => {
    if (this.disposed) return;
    const now = timestamp - this.origin;
    const shift = this.plotRight() - (now * this.plotWidth()) / this.windowMs;
    this.content.setAttribute('transform', `translate(${shift},0)`);
    const gridStep = this.gridStepPx();
    this.grid.setAttribute(
      'patternTransform',
      `translate(${((shift % gridStep) + gridStep) % gridStep},0)`,
    );
    // Marks that left the window are removed so the DOM stays small.
    const oldest = now - this.windowMs - 1000;
    for (const lane of this.lanes.values()) {
      let gone = 0;
      while (gone < lane.marks.length && lane.marks[gone].at < oldest)
        lane.marks[gone++].element.remove();
      if (gone > 0) lane.marks.splice(0, gone);
    }
    this.frame = requestAnimationFrame(this.tick);
  };

  private plotRight(): number {
    return this.width - nowInset;
  }

  private plotWidth(): number {
    return Math.max(100, this.plotRight() - gutter);
  }

  private gridStepPx(): number {
    const stepMs = this.windowMs > 30_000 ? 5000 : 1000;
    return (stepMs * this.plotWidth()) / this.windowMs;
  }

  /** x of time `at` inside the scrolling content group. */
  private x(at: number): number {
    return (at * this.plotWidth()) / this.windowMs;
  }

  private laneY(index: number): number {
    return 12 + this.laneHeight * index + this.laneHeight / 2;
  }

  /** Re-places everything after a resize or a new lane. */
  private layout(): void {
    const plotHeight = 12 + this.laneHeight * Math.max(1, this.lanes.size);
    const height = plotHeight + 22;
    this.svg.setAttribute('height', String(height));
    this.svg.setAttribute('viewBox', `0 0 ${this.width} ${height}`);
    const plot = { x: gutter, width: this.width - gutter, height: plotHeight };
    for (const rect of [this.clipRect, this.gridRect]) {
      rect.setAttribute('width', String(plot.width));
      rect.setAttribute('height', String(plot.height));
    }
    this.grid.setAttribute('width', String(this.gridStepPx()));
    this.grid.setAttribute('height', String(plot.height));
    this.gridLine.setAttribute('y2', String(plot.height));
    const nowX = this.plotRight();
    for (const [attr, value] of [
      ['x1', nowX],
      ['x2', nowX],
      ['y1', 4],
      ['y2', plotHeight],
    ] as const) {
      this.nowLine.setAttribute(attr, String(value));
    }
    this.nowLabel.setAttribute('x', String(nowX));
    this.nowLabel.setAttribute('y', String(height - 6));
    this.windowLabel.setAttribute('y', String(height - 6));
    for (const lane of this.lanes.values()) {
      lane.baseline.setAttribute('x2', String(this.width - 4));
      for (const mark of lane.marks) {
        mark.element.setAttribute(
          'transform',
          `translate(${this.x(mark.at)},${this.laneY(lane.index)})`,
        );
      }
    }
  }
}
