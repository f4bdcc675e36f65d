/**
 * What the machine charges for a page fault, the cost that separates
 * machines of one kind most: a process's start touches some 2,000-8,000
 * fresh pages, and a 100,000-service plan pass some 1,700-7,000 (the heap
 * growing onto pages fresh from the kernel until a full collection). Where a
 * fault costs ~12 µs, as on a 2026-11-27 machine of this kind, those are
 * a large share of both; read start-up and pe figures beside this one.
 */
import { median, type Figure } from './report.js';

const PAGE = 4096;
const PAGES = 16_384; // 64 MiB: above malloc's mmap threshold, so fresh pages every run

export function pageFaultFigure(): Figure {
  const perFault: number[] = [];
  for (let run = 0; run < 5; run++) {
    const before = process.resourceUsage().minorPageFault;
    const start = process.hrtime.bigint();
    const bytes = new Uint8Array(PAGES * PAGE);
    for (let i = 0; i < bytes.length; i += PAGE) bytes[i] = 1;
    const us = Number(process.hrtime.bigint() - start) / 1000;
    const faults = process.resourceUsage().minorPageFault - before;
    if (faults > 0) perFault.push(us / faults);
  }
  return {
    value: perFault.length > 0 ? median(perFault) : Number.NaN,
    unit: 'µs',
    note: `a first write to a fresh anonymous page, ${PAGES} pages a run (median of ${perFault.length})`,
  };
}
