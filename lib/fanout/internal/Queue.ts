/**
 * A FIFO of values with O(1) `push` and `shift` (an array plus a head index, compacted as it
 * drains), so a long backlog of waiting values never costs O(n) per dequeue.
 */
export class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(value: T): void {
    this.items.push(value);
  }

  /** The oldest value; call only when `length > 0`. */
  shift(): T {
    const value = this.items[this.head] as T;
    this.items[this.head++] = undefined; // let it be collected
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return value;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
