import type { Timeline } from './replay.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * An SVG chart of a replay: demand, the forecast (p50 and p90 made a lead
 * ahead) and the ready capacity over time. Long runs are reduced to at most
 * `maxPoints` buckets (the maximum of each, so peaks stay visible).
 */
export function plotSvg(
  tl: Timeline,
  o: { title?: string; width?: number; height?: number; maxPoints?: number } = {},
): string {
  const W = o.width ?? 1200;
  const H = o.height ?? 420;
  const pad = { l: 70, r: 20, t: 56, b: 40 };
  const n = tl.demand.length;
  const buckets = Math.max(1, Math.min(n, o.maxPoints ?? 1500));
  const per = n / buckets;
  const reduce = (a: Float64Array): number[] => {
    const out: number[] = [];
    for (let b = 0; b < buckets; b++) {
      let m = Number.NaN;
      for (let i = Math.floor(b * per); i < Math.min(n, Math.floor((b + 1) * per) || 1); i++)
        if (Number.isFinite(a[i]!)) m = Number.isNaN(m) ? a[i]! : Math.max(m, a[i]!);
      out.push(m);
    }
    return out;
  };
  const series = [
    { name: 'demand', color: '#1f77b4', data: reduce(tl.demand), dash: '' },
    { name: 'forecast p50', color: '#2ca02c', data: reduce(tl.forecastP50), dash: '4 3' },
    { name: 'forecast p90', color: '#98df8a', data: reduce(tl.forecastP90), dash: '2 2' },
    { name: 'capacity', color: '#d62728', data: reduce(tl.capacity), dash: '' },
  ];
  let top = 0;
  for (const s of series) for (const v of s.data) if (Number.isFinite(v)) top = Math.max(top, v);
  top = top > 0 ? top * 1.05 : 1;
  const x = (b: number): number => pad.l + (b / Math.max(1, buckets - 1)) * (W - pad.l - pad.r);
  const y = (v: number): number => H - pad.b - (v / top) * (H - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad.l}" y="20" font-size="14">${esc(o.title ?? 'replay')}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    parts.push(`<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`);
  }
  const t0 = new Date(tl.timestamp[0] ?? 0).toISOString().slice(0, 16);
  const t1 = new Date(tl.timestamp[n - 1] ?? 0).toISOString().slice(0, 16);
  parts.push(
    `<text x="${pad.l}" y="${H - 12}">${t0}</text>`,
    `<text x="${W - pad.r}" y="${H - 12}" text-anchor="end">${t1} (UTC)</text>`,
  );
  for (const s of series) {
    let d = '';
    s.data.forEach((v, b) => {
      if (!Number.isFinite(v)) return;
      d += `${d === '' ? 'M' : 'L'}${x(b).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d !== '')
      parts.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      );
  }
  series.forEach((s, i) => {
    // The legend has its own row under the title, so a long title never runs into it.
    const lx = pad.l + i * 130;
    parts.push(
      `<line x1="${lx}" y1="36" x2="${lx + 20}" y2="36" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      `<text x="${lx + 25}" y="40">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The `--timeline` CSV: `step,timestamp,demand,capacity,served,throttled`. */
export function timelineCsv(tl: Timeline): string {
  const rows = ['step,timestamp,demand,capacity,served,throttled'];
  for (let i = 0; i < tl.demand.length; i++)
    rows.push(
      `${tl.step[i]},${new Date(tl.timestamp[i]!).toISOString()},${tl.demand[i]},${tl.capacity[i]},${tl.served[i]},${tl.throttled[i]}`,
    );
  return `${rows.join('\n')}\n`;
}
