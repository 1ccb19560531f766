// Drives the voice page in Debian's Chromium with a fake microphone that plays a WAV file.
//
//   node tests/node/voice-page.mjs PAGE_URL WAV_FILE ITEM ARTIFACT_DIR
//
// Checks that the page lists restaurant r-123's menu (ITEM among it), starts a session, lets
// the microphone stream, and waits until the page shows a user transcript and ITEM in the
// cart (marked ordered on the menu, priced in the total), plays the answer, and stops playing
// it on barge-in (the test's mock Realtime service sends all that). Exits 0 on success; on
// failure keeps a screenshot in ARTIFACT_DIR and exits 1.
import { launch, shooter } from "./browser.mjs";

const [pageUrl, wav, item, artifacts] = process.argv.slice(2);
const browser = await launch([
  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  `--use-file-for-fake-audio-capture=${wav}%noloop`, "--autoplay-policy=no-user-gesture-required",
]);
const context = await browser.newContext({ viewport: { width: 1100, height: 700 }, permissions: ["microphone"] });
const page = await context.newPage();
const shot = shooter(page, artifacts);
let failed = false;
try {
  await page.goto(pageUrl);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  await page.selectOption("#restaurant", "r-123");
  await page.waitForSelector(`#menu li[data-item="${item}"]`, { timeout: 5_000 });
  await page.click("#start");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "listening", null, { timeout: 10_000 });
  await page.waitForSelector(".line.user", { timeout: 30_000 });
  await page.waitForSelector(`#cart li[data-item="${item}"]`, { timeout: 30_000 });
  await page.waitForSelector(`#menu li.ordered[data-item="${item}"]`, { timeout: 5_000 });
  const total = Number(await page.textContent("#total"));
  if (!(total > 0)) throw new Error(`the cart total is ${total}, not the ordered dishes' price`);
  await page.waitForFunction(() => window.voiceStats.receivedAudio > 0, null, { timeout: 10_000 });
  // The mock then signals that the guest speaks again: queued playback must stop.
  await page.waitForFunction(() => window.voiceStats.interrupted > 0, null, { timeout: 10_000 });
  const stats = await page.evaluate(() => window.voiceStats);
  console.log(`ok: menu, transcript and cart shown (total ${total.toFixed(2)}); page sent ${stats.sentChunks} chunks, played ${stats.receivedAudio}; screenshot ${await shot("voice-ok.png")}`);
  await page.click("#stop");
} catch (e) {
  failed = true;
  let where = "";
  try { where = ` (screenshot ${await shot("voice-failure.png")})`; } catch { /* page gone */ }
  console.error(`voice page test failed: ${e.message}${where}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
