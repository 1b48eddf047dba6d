import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barChart, lineChart } from '../../bench/lib/svg-chart.js';

describe('bench charts (SVG)', () => {
  it('draws one line per series over a log x axis, with a legend, and leaves out points it cannot place', () => {
    const svg = lineChart({
      title: 'Numbers per second <vs> connections',
      xLabel: 'connections',
      yLabel: 'req/s',
      series: [
        { name: 'embedded', points: [[1, 1600], [8, 9800], [512, 21000]] },
        { name: 'HA & co', points: [[1, 350], [8, Number.NaN], [512, 18000]] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, 2);
    assert.equal(svg.match(/<circle /g)?.length, 5, 'the NaN point is left out');
    assert.ok(svg.includes('HA &amp; co') && svg.includes('&lt;vs&gt;'), 'text is escaped');
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
    // x = 1 sits on the left edge of the plot, x = 512 on the right one.
    const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    assert.equal(Math.min(...xs), 78);
    assert.equal(Math.max(...xs), 760 - 250);
  });

  it('puts decades on a log y axis, and draws a bar per bucket', () => {
    const svg = lineChart({ title: 'p99', xLabel: 'c', yLabel: 'ms', yLog: true, series: [{ name: 'a', points: [[1, 0.5], [64, 250]] }] });
    for (const tick of ['0.1', '1', '10', '100', '1k']) assert.ok(svg.includes(`>${tick}</text>`), `tick ${tick}`);
    const bars = barChart({ title: 'stalls', xLabel: 'ms', yLabel: 'kills', bars: [{ label: '0–500', value: 3 }, { label: '500–1000', value: 2 }] });
    assert.equal(bars.match(/<rect x=/g)?.length, 3, 'two bars and the frame');
    assert.doesNotMatch(bars, /NaN|undefined/);
  });
});
