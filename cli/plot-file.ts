/**
 * Writes a replay figure (SVG text from sim/) to the file an option names,
 * in the format its extension asks for: `.svg` as it is, `.png` rendered by
 * resvg (`@resvg/resvg-js`, a Rust SVG renderer: no browser, no DOM), with
 * the machine's fonts (DejaVu Sans where installed). The extension is
 * checked when the options are parsed, before a long replay runs.
 */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ErrorCode, InputError, show } from '../lib/index.ts';

/** The image formats a plot file may have, by extension. */
export const PlotFormat = { Svg: 'svg', Png: 'png' } as const;
export type PlotFormat = (typeof PlotFormat)[keyof typeof PlotFormat];

/** The format of `file` (by extension, any case); an InputError naming `option` for any other. */
export function plotFormatOf(option: string, file: string): PlotFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.svg') return PlotFormat.Svg;
  if (ext === '.png') return PlotFormat.Png;
  throw new InputError(
    ErrorCode.InvalidOptions,
    `${option} must name a .svg or .png file, got ${show(file)}`,
    { field: option, value: file },
  );
}

/** Renders SVG text to PNG bytes at the SVG's own size, on a white background. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const r = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    logLevel: 'off',
  });
  return r.render().asPng();
}

/** Writes `svg` to `file` as SVG or PNG by its extension (see {@link plotFormatOf}). */
export async function writePlot(option: string, file: string, svg: string): Promise<void> {
  const format = plotFormatOf(option, file);
  await writeFile(file, format === PlotFormat.Png ? await svgToPng(svg) : svg);
}

/**
 * The file of one policy's `--plot` when several run: `out.png` becomes
 * `out-rl.png` (one figure per run).
 */
export function plotFileFor(file: string, policy: string, several: boolean): string {
  if (!several) return file;
  const ext = extname(file);
  return `${file.slice(0, file.length - ext.length)}-${policy}${ext}`;
}
