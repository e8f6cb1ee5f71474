// The breaker's state machine as an SVG: the current state is highlighted (data-current) and
// each transition's arrow counts how often it was taken (data-count) and flashes when it is.
import type { CircuitState } from '../../lib/resilience/index.js';

const svgNs = 'http://www.w3.org/2000/svg';

const nodes: Record<CircuitState, { x: number; y: number }> = {
  closed: { x: 90, y: 70 },
  open: { x: 470, y: 70 },
  'half-open': { x: 280, y: 230 },
};

/** Every transition a breaker makes: [from, to, caption, path, caption position]. */
const edges: [CircuitState, CircuitState, string, string, { x: number; y: number }][] = [
  ['closed', 'open', 'failure rate ≥ 50 % · isolate', 'M 140 60 L 420 60', { x: 280, y: 52 }],
  ['open', 'half-open', 'openMs elapsed', 'M 440 110 L 330 205', { x: 352, y: 150 }],
  ['half-open', 'closed', '2 trial successes', 'M 230 215 L 110 118', { x: 215, y: 150 }],
  ['half-open', 'open', 'trial failed', 'M 328 240 Q 490 255 490 122', { x: 490, y: 225 }],
  ['open', 'closed', 'reset · isolation ended', 'M 420 85 L 140 85', { x: 280, y: 100 }],
];

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  parent: Element,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  parent.appendChild(element);
  return element;
}

export class StateMachine {
  private readonly nodes = new Map<CircuitState, SVGGElement>();
  private readonly edges = new Map<string, SVGGElement>();

  constructor(container: HTMLElement) {
    const root = svg('svg', { class: 'machine', viewBox: '0 0 560 300', role: 'img' }, container);
    root.setAttribute('aria-label', 'circuit breaker state machine');
    const marker = svg(
      'marker',
      {
        id: 'arrow',
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 12,
        markerHeight: 12,
        markerUnits: 'userSpaceOnUse',
        orient: 'auto',
      },
      svg('defs', {}, root),
    );
    svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#5b6577' }, marker);
    for (const [from, to, caption, d, at] of edges) {
      const group = svg(
        'g',
        { class: 'edge', 'data-transition': `${from}→${to}`, 'data-count': 0 },
        root,
      );
      svg('path', { d }, group);
      const label = svg('text', at, group);
      label.textContent = caption;
      this.edges.set(`${from}→${to}`, group);
    }
    for (const [state, { x, y }] of Object.entries(nodes) as [
      CircuitState,
      { x: number; y: number },
    ][]) {
      const group = svg('g', { class: 'node', 'data-state-node': state }, root);
      svg('circle', { cx: x, cy: y, r: 48 }, group);
      const text = svg('text', { x, y }, group);
      text.textContent = state;
      this.nodes.set(state, group);
    }
  }

  /** Highlights `state`; if it came from `from`, counts and flashes that arrow. */
  show(state: CircuitState, from: CircuitState | null): void {
    for (const [name, node] of this.nodes) node.toggleAttribute('data-current', name === state);
    if (from === null) return;
    const edge = this.edges.get(`${from}→${state}`);
    if (!edge) return;
    edge.dataset.count = String(Number(edge.dataset.count) + 1);
    for (const other of this.edges.values()) other.classList.remove('taken');
    edge.classList.add('taken');
  }
}
