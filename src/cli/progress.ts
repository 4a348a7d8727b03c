/** A one-line progress bar on stderr (only when stderr is a terminal; silent otherwise). */
export class Progress {
  #label: string;
  #total: number | undefined;
  #done = 0;
  #start = Date.now();
  #last = 0;
  #tty = process.stderr.isTTY === true;

  constructor(label: string, total?: number) {
    this.#label = label;
    this.#total = total;
  }

  /** Add `n` units of work done (bytes unless the label says otherwise). */
  add(n: number): void {
    this.#done += n;
    this.#draw(false);
  }

  set(done: number, extra = ''): void {
    this.#done = done;
    this.#draw(false, extra);
  }

  /** Finish the line. */
  end(extra = ''): void {
    this.#draw(true, extra);
    if (this.#tty) process.stderr.write('\n');
  }

  #draw(force: boolean, extra = ''): void {
    if (!this.#tty) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const secs = Math.max((now - this.#start) / 1000, 0.001);
    const rate = `${fmtBytes(this.#done / secs)}/s`;
    let line: string;
    if (this.#total && this.#total > 0) {
      const f = Math.min(this.#done / this.#total, 1);
      const w = 30, fill = Math.round(f * w);
      line = `${this.#label} [${'#'.repeat(fill)}${' '.repeat(w - fill)}] ${(f * 100).toFixed(0).padStart(3)}% ${fmtBytes(this.#done)}/${fmtBytes(this.#total)} ${rate}`;
    } else {
      line = `${this.#label} ${fmtBytes(this.#done)} ${rate}`;
    }
    process.stderr.write(`\r${line} ${extra}\x1b[K`);
  }
}

/** 1536 -> "1.5 KiB" */
export function fmtBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}
