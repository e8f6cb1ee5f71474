/**
 * Small form controls for demo pages, each exposing its value as an Observable so a page can
 * `switchMap` its demo on every change. Styled by kit.css.
 *
 * @example
 * const bar = controls(document.querySelector('#controls')!);
 * const workers = slider(bar, { label: 'workers', min: 1, max: 8, value: 3 });
 * const ordered = toggle(bar, { label: 'ordered', value: false });
 * const restart = button(bar, 'restart');
 * combineLatest([workers.value$, ordered.value$]).pipe(switchMap(([n, o]) => demo(n, o)));
 */
import { BehaviorSubject, fromEvent, map, type Observable } from 'rxjs';

/** A control whose current value is readable and observable (current value first). */
export interface Control<T> {
  readonly element: HTMLElement;
  readonly value$: Observable<T>;
  value: T;
}

function labelled(parent: HTMLElement, text: string, className: string): HTMLLabelElement {
  const label = document.createElement('label');
  label.className = `control ${className}`;
  const caption = document.createElement('span');
  caption.className = 'control-caption';
  caption.textContent = text;
  label.appendChild(caption);
  parent.appendChild(label);
  return label;
}

function control<T>(element: HTMLElement, initial: T, render: (value: T) => void): Control<T> {
  const subject = new BehaviorSubject<T>(initial);
  render(initial);
  return {
    element,
    value$: subject.asObservable(),
    get value() {
      return subject.value;
    },
    set value(value: T) {
      render(value);
      subject.next(value);
    },
  };
}

/** A row of controls (a `<div class="controls">`) appended to `parent`. */
export function controls(parent: HTMLElement): HTMLElement {
  const bar = document.createElement('div');
  bar.className = 'controls';
  parent.appendChild(bar);
  return bar;
}

export interface SliderConfig {
  label: string;
  min: number;
  max: number;
  step?: number;
  value: number;
  /** How the current value is shown next to the slider (default: the number). */
  format?: (value: number) => string;
}

/** A range input with its value shown beside it. */
export function slider(parent: HTMLElement, config: SliderConfig): Control<number> {
  const label = labelled(parent, config.label, 'control-slider');
  const input = document.createElement('input');
  input.type = 'range';
  input.min = String(config.min);
  input.max = String(config.max);
  input.step = String(config.step ?? 1);
  const output = document.createElement('output');
  label.append(input, output);
  const format = config.format ?? String;
  const result = control(label, config.value, (value) => {
    input.value = String(value);
    output.textContent = format(value);
  });
  input.addEventListener('input', () => (result.value = Number(input.value)));
  return result;
}

/** A checkbox. */
export function toggle(
  parent: HTMLElement,
  config: { label: string; value: boolean },
): Control<boolean> {
  const label = labelled(parent, config.label, 'control-toggle');
  const input = document.createElement('input');
  input.type = 'checkbox';
  label.prepend(input);
  const result = control(label, config.value, (value) => (input.checked = value));
  input.addEventListener('change', () => (result.value = input.checked));
  return result;
}

/** A drop-down of string options. */
export function select<T extends string>(
  parent: HTMLElement,
  config: { label: string; options: readonly T[]; value: T },
): Control<T> {
  const label = labelled(parent, config.label, 'control-select');
  const input = document.createElement('select');
  for (const option of config.options) input.add(new Option(option, option));
  label.appendChild(input);
  const result = control(label, config.value, (value) => (input.value = value));
  input.addEventListener('change', () => (result.value = input.value as T));
  return result;
}

/** A button and its clicks. */
export function button(
  parent: HTMLElement,
  text: string,
  config: { kind?: 'primary' | 'danger' } = {},
): { element: HTMLButtonElement; clicks$: Observable<void> } {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = text;
  element.className = `button${config.kind ? ` button-${config.kind}` : ''}`;
  parent.appendChild(element);
  return { element, clicks$: fromEvent(element, 'click').pipe(map(() => undefined)) };
}

/** A labelled read-only value (e.g. a breaker state or an in-flight count); `set` updates it. */
export function stat(
  parent: HTMLElement,
  label: string,
  initial: string | number = '–',
): { element: HTMLElement; set(value: string | number, tone?: 'ok' | 'warn' | 'bad'): void } {
  const element = document.createElement('div');
  element.className = 'stat';
  const caption = document.createElement('span');
  caption.className = 'stat-label';
  caption.textContent = label;
  const value = document.createElement('span');
  value.className = 'stat-value';
  element.append(caption, value);
  parent.appendChild(element);
  const set = (next: string | number, tone?: 'ok' | 'warn' | 'bad') => {
    value.textContent = String(next);
    if (tone) element.dataset.tone = tone;
    else delete element.dataset.tone;
  };
  set(initial);
  return { element, set };
}

/** A scrolling event log keeping the newest `max` lines (default 200). */
export function eventLog(
  parent: HTMLElement,
  max = 200,
): {
  element: HTMLElement;
  write(text: string, tone?: 'ok' | 'warn' | 'bad'): void;
  clear(): void;
} {
  const element = document.createElement('ol');
  element.className = 'event-log';
  parent.appendChild(element);
  const started = performance.now();
  return {
    element,
    write(text, tone) {
      const line = document.createElement('li');
      if (tone) line.dataset.tone = tone;
      const time = document.createElement('time');
      time.textContent = `${((performance.now() - started) / 1000).toFixed(2)}s`;
      line.append(time, ` ${text}`);
      element.appendChild(line);
      while (element.childElementCount > max) element.firstElementChild?.remove();
      element.scrollTop = element.scrollHeight;
    },
    clear() {
      element.replaceChildren();
    },
  };
}
