// Opens the local server's GET /metrics in Debian's Chromium, as someone checking on it would,
// and keeps a screenshot of it (the README shows a copy, docs/metrics.png).
//
//   node tests/node/metrics-page.mjs METRICS_URL SAMPLE ARTIFACT_DIR
//
// Exits 0 when the page shows SAMPLE (a line of the exposition), with the screenshot
// metrics.png; otherwise keeps metrics-failure.png and exits 1.
import { launch, shooter } from "./browser.mjs";

const [url, sample, artifacts] = process.argv.slice(2);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
const shot = shooter(page, artifacts);
let failed = false;
try {
  await page.goto(url);
  const text = await page.textContent("body");
  if (!text.includes(sample)) throw new Error(`the page does not show ${sample}`);
  console.log(`ok: ${sample}; screenshot ${await shot("metrics.png")}`);
} catch (e) {
  failed = true;
  console.error(`failed: ${e.message}; screenshot ${await shot("metrics-failure.png")}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
